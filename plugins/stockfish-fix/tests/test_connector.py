"""The connector over loopback against the simulated venue, in every FIX version: every
order path, market data (the book built from W + X equals the venue's), and reject paths."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from stockfish_core.errors import NotConnectedError, OrderRejectedError, SubscriptionError
from stockfish_core.models import DataType, Trade
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.testing import Recorder, wait_until
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.venue import BUSINESS_REJECT_SYMBOL, SESSION_REJECT_SYMBOL

T = 10.0
Live = tuple[FIXConnector, Recorder]
ALL_VERSIONS = pytest.mark.parametrize("version", ["FIX42", "FIX44", "FIX50SP2"],
                                       indirect=True)


@pytest.fixture(params=["FIX44"])
def version(request: pytest.FixtureRequest) -> str:
    """FIX 4.4 by default; the tests marked ALL_VERSIONS run in 4.2 and 5.0 SP2 too (the
    conformance kit and the message tests cover every version as well)."""
    return str(request.param)


def _wait(recorder: Recorder, order: Order, *statuses: OrderStatus) -> None:
    assert recorder.wait(lambda: order.status in statuses, T), order


def _fills_match(venue: FIXVenue, order: Order) -> None:
    truth = venue.fills_of(order.client_order_id)
    assert [f.exec_id for f in order.fills] == [f["exec_id"] for f in truth]
    assert sum(f.quantity for f in order.fills) == pytest.approx(
        sum(f["quantity"] for f in truth))


@ALL_VERSIONS
def test_market_order_partial_fills_then_filled(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 250)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.FILLED)
    assert [f.quantity for f in order.fills] == [100, 100, 50]
    _fills_match(venue, order)
    assert venue.orders_received_count(order.client_order_id) == 1
    assert order.order_id and connector.get_order_status(order.order_id) is OrderStatus.FILLED


def test_limit_rests_then_fills_when_crossing(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    _bid, ask = venue.engine.best("AAA")
    far = Order("AAA", OrderSide.SELL, 5, OrderType.LIMIT, price=ask + 50)
    cross = Order("AAA", OrderSide.BUY, 5, OrderType.LIMIT, price=ask + 5,
                  time_in_force=TimeInForce.GTC)
    connector.send_order(far)
    connector.send_order(cross)
    _wait(recorder, cross, OrderStatus.FILLED)
    _wait(recorder, far, OrderStatus.SUBMITTED)
    assert cross.avg_fill_price <= ask + 5
    assert connector.replace_order(far.client_order_id, price=1.0)  # now crosses the bid
    _wait(recorder, far, OrderStatus.FILLED)
    assert far.price == 1.0
    _fills_match(venue, far)
    assert any(e.kind == "replaced" for e in recorder.order_events)


def test_stop_and_stop_limit_trigger(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    bid, ask = venue.engine.best("BBB")
    stop = Order("BBB", OrderSide.BUY, 3, OrderType.STOP, stop_price=ask - 0.5)
    stop_limit = Order("BBB", OrderSide.SELL, 2, OrderType.STOP_LIMIT, price=bid - 1,
                       stop_price=bid + 0.5)
    waiting = Order("BBB", OrderSide.BUY, 1, OrderType.STOP, stop_price=ask + 500)
    for order in (stop, stop_limit, waiting):
        connector.send_order(order)
    _wait(recorder, stop, OrderStatus.FILLED)
    _wait(recorder, stop_limit, OrderStatus.FILLED)
    _wait(recorder, waiting, OrderStatus.SUBMITTED)
    assert waiting.filled_quantity == 0
    assert connector.cancel_order(waiting.client_order_id)
    _wait(recorder, waiting, OrderStatus.CANCELLED)


@ALL_VERSIONS
def test_replace_quantity_and_status_request(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.SUBMITTED)
    assert connector.replace_order(order.client_order_id, quantity=20)
    assert recorder.wait(lambda: order.quantity == 20, T)
    assert venue.order(order.client_order_id).qty == 20
    answered = connector.request_order_states([order], 5.0)
    assert answered == {order.client_order_id}
    assert connector.cancel_order(order.order_id)  # the venue's id works too
    _wait(recorder, order, OrderStatus.CANCELLED)
    assert connector.cancel_order(order.client_order_id) is False


def test_ioc_remainder_is_cancelled(live: Live) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 150, time_in_force=TimeInForce.IOC)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.CANCELLED)
    assert order.filled_quantity == 100


@pytest.mark.parametrize(("symbol", "quantity", "reason"), [
    ("NOPE", 1, "unknown symbol"),
    (BUSINESS_REJECT_SYMBOL, 1, "business reject"),
    (SESSION_REJECT_SYMBOL, 1, "session reject"),
])
@ALL_VERSIONS
def test_venue_reject_paths(venue: FIXVenue, live: Live, symbol: str, quantity: float,
                            reason: str) -> None:
    connector, recorder = live
    order = Order(symbol, OrderSide.BUY, quantity)
    with contextlib.suppress(OrderRejectedError):
        connector.send_order(order)
    _wait(recorder, order, OrderStatus.REJECTED)
    assert reason in (order.reject_reason or "")
    assert connector.is_connected
    assert venue.orders_received_count(order.client_order_id) == 1


def test_cancel_reject_for_a_filled_order(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 5, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.SUBMITTED)
    venue.fill(order.client_order_id)  # filled at the venue, report in flight
    connector.cancel_order(order.client_order_id)
    _wait(recorder, order, OrderStatus.FILLED)
    assert recorder.wait(lambda: any(e.kind == "cancel_rejected"
                                     for e in recorder.order_events), T) \
        or connector.fix_counters["cancel_rejects"] == 0  # cancel raced ahead of the fill


@ALL_VERSIONS
def test_market_data_book_equals_the_venue(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    assert connector.subscribe_orderbook("AAA", 5)
    assert connector.subscribe_price("AAA")
    assert recorder.wait_updates(20, T, DataType.ORDERBOOK_SNAPSHOT, "AAA")
    assert recorder.wait_updates(5, T, DataType.PRICE_TICK, "AAA")

    def same() -> bool:
        with venue.lock:
            ours = connector.book("AAA").levels()
            bids, asks = venue.engine.books["AAA"]
            return ours == (sorted(bids.items(), reverse=True), sorted(asks.items()))

    assert wait_until(same, T), "the book from W + X differs from the venue's"
    # Trades (269=2) become Trade updates.
    order = Order("AAA", OrderSide.BUY, 1)
    connector.send_order(order)
    assert recorder.wait(lambda: any(isinstance(u.payload, Trade) for u in recorder.updates), T)
    assert connector.get_stats()["data_errors"] == 0


def test_unknown_symbol_and_unsubscribe(live: Live) -> None:
    connector, recorder = live
    with pytest.raises(SubscriptionError, match="ZZZ"):
        connector.subscribe_price("ZZZ")
    connector.subscribe_price("BBB")
    assert recorder.wait_updates(3, T, symbol="BBB")
    connector.unsubscribe("BBB")
    assert "BBB" not in connector.subscribed_symbols
    assert connector.get_stats()["fix"]["md_rejects"] == 1


def test_malformed_messages_are_counted_by_kind(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    connector.subscribe_price("AAA")
    assert recorder.wait_updates(2, T, symbol="AAA")
    venue.send_malformed()
    kinds = {"unknown_order", "bad_fill", "invalid_message", "book_delete_unknown_level"}
    assert wait_until(lambda: kinds <= set(connector.get_stats()["data_errors_by_kind"]), T), \
        connector.get_stats()["data_errors_by_kind"]
    assert recorder.wait_updates(3, T, symbol="AAA")
    assert connector.is_connected and not venue.errors


def test_not_connected_and_bad_requests(make_connector: Callable[..., FIXConnector]) -> None:
    connector = make_connector()
    with pytest.raises(NotConnectedError):
        connector.send_order(Order("AAA", OrderSide.BUY, 1))
    with pytest.raises(NotConnectedError):
        connector.subscribe_price("AAA")
    assert connector.connect()
    order = Order("AAA", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    with pytest.raises(OrderRejectedError):
        connector.replace_order(order.client_order_id)
    with pytest.raises(OrderRejectedError):
        connector.replace_order(order.client_order_id, price=-1.0)
