"""Venue faults: no answer, HTTP 500, refused connections; orders never sent twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core.enums import ConnectorStatus
from stockfish_core.errors import NotConnectedError
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_example_rest.connector import RestConnector
from stockfish_example_rest.testing import RestVenue

WAIT = 10.0


@pytest.fixture
def venue() -> Iterator[RestVenue]:
    venue = RestVenue(("AAA", "BBB"), tick_interval=0.02, outage=0.3, hang_limit=5.0)
    venue.start()
    yield venue
    venue.stop()


@pytest.fixture
def live(venue: RestVenue) -> Iterator[tuple[RestConnector, Recorder]]:
    router = DataFeedRouter()
    connector = RestConnector(router, port=venue.port, poll_interval=0.02, request_timeout=0.3,
                              heartbeat_interval=1.0, reconnect_initial_delay=0.05,
                              reconnect_max_delay=0.3)
    recorder = Recorder(connector, router)
    assert connector.connect()
    yield connector, recorder
    recorder.close()
    connector.close(timeout=5.0)


def _lost_then_back(connector: RestConnector, recorder: Recorder, mark: int) -> None:
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, WAIT, after=mark), \
        "the dead venue was not noticed"
    assert recorder.wait(lambda: connector.is_connected and ConnectorStatus.CONNECTED in
                         recorder.statuses[mark:], WAIT), "did not reconnect"


@pytest.mark.parametrize("fault", ["stop_answering", "answer_500", "refuse"])
def test_dead_venue_is_detected_and_recovered(
    venue: RestVenue, live: tuple[RestConnector, Recorder], fault: str
) -> None:
    connector, recorder = live
    connector.subscribe_price("AAA")
    assert recorder.wait_updates(3, WAIT, DataType.PRICE_TICK, "AAA")
    mark = len(recorder.statuses)
    getattr(venue, fault)()
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, WAIT, after=mark)
    assert "failed polls" in (connector.get_stats()["last_error"] or "")
    venue.resume()
    _lost_then_back(connector, recorder, mark)
    assert recorder.wait_updates(3, WAIT, DataType.PRICE_TICK, "AAA"), "data did not resume"


def test_fills_made_during_an_outage_are_recovered_once(
    venue: RestVenue, live: tuple[RestConnector, Recorder]
) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 300)  # fills 100 per venue tick
    venue.stop_answering()  # the venue keeps matching but tells nobody
    mark = len(recorder.statuses)
    # The POST itself hangs and times out: the outcome is unknown, the order is not resent.
    assert connector.send_order(order) == order.client_order_id
    assert order.unknown_outcome
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, WAIT, after=mark)
    assert recorder.wait(lambda: (state := venue.order_state(order.client_order_id))
                         is not None and state["status"] == "FILLED", WAIT)
    venue.resume()
    _lost_then_back(connector, recorder, mark)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED
                         and not order.unknown_outcome, WAIT)
    assert order.filled_quantity == 300
    assert [f.exec_id for f in order.fills] == [
        f["exec_id"] for f in venue.fills() if f["client_order_id"] == order.client_order_id]
    assert venue.orders_received_count(order.client_order_id) == 1
    assert connector.get_stats()["duplicate_fills"] >= 0  # counted, never applied twice


def test_order_to_a_refusing_venue_is_rejected_not_lost(
    venue: RestVenue, live: tuple[RestConnector, Recorder]
) -> None:
    connector, _ = live
    venue.refuse()
    order = Order("AAA", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0)
    with pytest.raises(NotConnectedError):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED
    assert "not sent" in (order.reject_reason or "")
    assert venue.orders_received_count(order.client_order_id) == 0


def test_order_sent_before_a_drop_reconciles_to_the_venue_truth(
    venue: RestVenue, live: tuple[RestConnector, Recorder]
) -> None:
    connector, recorder = live
    resting = Order("AAA", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0)
    connector.send_order(resting)
    assert recorder.wait(lambda: resting.status is OrderStatus.SUBMITTED, WAIT)
    mark = len(recorder.statuses)
    venue.refuse()
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, WAIT, after=mark)
    assert resting.unknown_outcome
    with venue._lock:  # the venue cancels it while we are away (e.g. end of day)
        venue._cancel(venue._orders[resting.client_order_id])
    venue.resume()
    _lost_then_back(connector, recorder, mark)
    assert recorder.wait(lambda: resting.status is OrderStatus.CANCELLED
                         and not resting.unknown_outcome, WAIT)
    assert venue.orders_received_count(resting.client_order_id) == 1


def test_book_depth_is_respected(venue: RestVenue,
                                 live: tuple[RestConnector, Recorder]) -> None:
    connector, recorder = live
    connector.subscribe_orderbook("BBB", 3)
    assert recorder.wait_updates(2, WAIT, DataType.ORDERBOOK_SNAPSHOT, "BBB")
    book = next(u.payload for u in recorder.updates
                if u.data_type is DataType.ORDERBOOK_SNAPSHOT)
    assert len(book.bids) == 3 and len(book.asks) == 3
    assert book.bids[0].price < book.asks[0].price


def test_api_key_is_sent_and_checked() -> None:
    with RestVenue(("AAA",), api_key="k3y") as venue:
        bad = RestConnector(port=venue.port, request_timeout=0.5, auto_reconnect=False)
        assert not bad.connect()
        assert "401" in (bad.get_stats()["last_error"] or "")
        good = RestConnector(port=venue.port, api_key="k3y", request_timeout=0.5)
        try:
            assert good.connect()
            assert "k3y" not in repr(good.settings)
        finally:
            good.close()
