"""Every order type's lifecycle against the fake TWS, compared with the fake's records."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stockfish_core.errors import OrderRejectedError
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.testing import FakeTWS

Live = tuple[IBKRConnector, Recorder]
TIMEOUT = 10.0


def _wait(recorder: Recorder, order: Order, *statuses: OrderStatus) -> None:
    assert recorder.wait(lambda: order.status in statuses, TIMEOUT), \
        f"{order!r} never reached {[s.value for s in statuses]}"


def _acknowledged(recorder: Recorder, order: Order) -> None:
    """TWS acknowledged ``order`` (its SUBMITTED was applied, whatever came after)."""
    assert recorder.wait(lambda: any(
        e.client_order_id == order.client_order_id and e.kind == "status"
        and e.status is OrderStatus.SUBMITTED for e in list(recorder.order_events)), TIMEOUT), \
        f"{order!r} never acknowledged"


def _received(tws: FakeTWS, order: Order) -> list[dict[str, object]]:
    return [r for r in tws.orders_received if r["order_ref"] == order.client_order_id]


def _check_against_venue(tws: FakeTWS, order: Order) -> None:
    executions = [e for e in tws.executions if e["order_ref"] == order.client_order_id]
    assert sorted(f.exec_id for f in order.fills) == sorted(e["exec_id"] for e in executions)
    assert order.filled_quantity == sum(e["shares"] for e in executions)


def test_market_order_fills_with_commission(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    order = Order("SPY", OrderSide.BUY, 10)
    assert connector.send_order(order) == order.client_order_id
    _wait(recorder, order, OrderStatus.FILLED)
    sent = _received(tws, order)
    assert len(sent) == 1
    assert sent[0]["order_type"] == "MKT" and sent[0]["quantity"] == 10
    _check_against_venue(tws, order)
    assert recorder.wait(lambda: order.fills[0].commission > 0, TIMEOUT), "commission report"
    ids = connector.ibkr_order_map.ids(order.client_order_id)
    assert ids is not None and ids[0] == int(order.order_id or 0) and ids[1] > 0
    assert connector.find_order(str(ids[0])) is order
    positions = connector.get_positions()
    assert {(p.symbol, p.quantity, p.source) for p in positions} == {("SPY", 10.0, "venue")}


def test_limit_order_rests_then_fills_when_the_market_crosses(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    # Far enough below the market that its random walk never reaches the limit before the
    # test moves the market (5.0 below, about 1.3 %, it could on a starved machine: the
    # order filled before the test saw it resting).
    price = round(tws.instrument("QQQ").bid * 0.8, 2)
    order = Order("QQQ", OrderSide.BUY, 5, OrderType.LIMIT, price=price,
                  time_in_force=TimeInForce.GTC)
    connector.send_order(order)
    _acknowledged(recorder, order)
    assert order.filled_quantity == 0
    assert _received(tws, order)[0]["tif"] == "GTC"
    assert _received(tws, order)[0]["limit_price"] == price
    tws.set_price("QQQ", price - 1.0)
    _wait(recorder, order, OrderStatus.FILLED)
    assert order.avg_fill_price is not None and order.avg_fill_price <= price
    _check_against_venue(tws, order)


def test_limit_order_cancel(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    order = Order("SPY", OrderSide.SELL, 3, OrderType.LIMIT, price=100_000.0)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.SUBMITTED)
    assert connector.cancel_order(order.client_order_id)
    _wait(recorder, order, OrderStatus.CANCELLED)
    assert connector.cancel_order(order.client_order_id) is False
    venue = {o["order_ref"]: o for o in tws.orders()}
    assert venue[order.client_order_id]["status"] == "Cancelled"


@pytest.mark.parametrize(("side", "stop_offset"), [(OrderSide.BUY, 5.0), (OrderSide.SELL, -5.0)])
def test_stop_order_triggers(live: Live, tws: FakeTWS, side: OrderSide,
                             stop_offset: float) -> None:
    connector, recorder = live
    stop = round(tws.instrument("IWM").last + 4 * stop_offset, 2)  # 10 %: out of the walk's reach
    order = Order("IWM", side, 2, OrderType.STOP, stop_price=stop)
    connector.send_order(order)
    _acknowledged(recorder, order)
    assert _received(tws, order)[0]["order_type"] == "STP"
    assert order.filled_quantity == 0
    tws.set_price("IWM", stop + stop_offset)
    _wait(recorder, order, OrderStatus.FILLED)
    _check_against_venue(tws, order)


def test_stop_limit_order_triggers_then_limits(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    last = tws.instrument("SPY").last
    stop = round(last * 1.05, 2)  # out of the market's random walk until the test moves it
    order = Order("SPY", OrderSide.BUY, 4, OrderType.STOP_LIMIT, price=stop + 1.0,
                  stop_price=stop)
    connector.send_order(order)
    _acknowledged(recorder, order)
    sent = _received(tws, order)[0]
    assert (sent["order_type"], sent["aux_price"], sent["limit_price"]) == \
        ("STP LMT", stop, stop + 1.0)
    tws.set_price("SPY", stop + 0.5)
    _wait(recorder, order, OrderStatus.FILLED)
    assert order.avg_fill_price is not None and order.avg_fill_price <= stop + 1.0
    _check_against_venue(tws, order)


def test_ioc_limit_that_cannot_fill_is_cancelled(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    order = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0,
                  time_in_force=TimeInForce.IOC)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.CANCELLED)
    assert _received(tws, order)[0]["tif"] == "IOC"


def test_partial_fills_arrive_in_order(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    order = Order("SPY", OrderSide.SELL, 250)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.FILLED)
    assert [f.quantity for f in order.fills] == [100.0, 100.0, 50.0]
    kinds = [e.status for e in recorder.order_events
             if e.kind == "fill" and e.client_order_id == order.client_order_id]
    assert kinds == [OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED,
                     OrderStatus.FILLED]
    _check_against_venue(tws, order)


def test_venue_rejection_201_is_a_clear_rejection(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.reject_next_order("insufficient buying power")
    order = Order("SPY", OrderSide.BUY, 1)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.REJECTED)
    assert order.reject_reason is not None
    assert "201" in order.reject_reason and "insufficient buying power" in order.reject_reason
    assert connector.is_connected


def test_untradable_instrument_is_rejected_by_the_venue(live: Live) -> None:
    connector, recorder = live
    order = Order("SPX", OrderSide.BUY, 1)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.REJECTED)
    assert "not tradable" in (order.reject_reason or "")


def test_unknown_symbol_order_never_reaches_the_wire(live: Live, tws: FakeTWS) -> None:
    connector, _ = live
    order = Order("UNKNOWNSYM", OrderSide.BUY, 1)
    with pytest.raises(OrderRejectedError, match="IB error 200"):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED
    assert not _received(tws, order)


def test_readonly_refuses_orders_before_the_wire(make_connector: Callable[..., IBKRConnector],
                                                 router: DataFeedRouter, tws: FakeTWS) -> None:
    connector = make_connector(readonly=True)
    assert connector.connect()
    order = Order("SPY", OrderSide.BUY, 1)
    with pytest.raises(OrderRejectedError, match="read-only"):
        connector.send_order(order)
    assert tws.orders_received == []


def test_order_ids_are_unique_and_increasing(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    orders = [Order("SPY", OrderSide.BUY, 1) for _ in range(10)]
    for order in orders:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in orders), TIMEOUT)
    ids = [r["order_id"] for r in tws.orders_received]
    assert ids == sorted(set(ids))
    assert tws.stats().get("order_id_reuse", 0) == 0
