"""Session recovery over loopback: a drop with orders working and fills during the outage
(applied exactly once, nothing sent twice), a sequence gap, a refused logon, sequence numbers
surviving a restart with the file store, and credentials that never reach a log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from stockfish_core.enums import ConnectorStatus
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder, wait_until
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST, parse, raw

T = 10.0
Live = tuple[FIXConnector, Recorder]


@pytest.fixture(params=["FIX44", "FIX42"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_fills_during_an_outage_are_applied_exactly_once(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    connector.subscribe_price("AAA")
    resting = [Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0) for _ in range(3)]
    for order in resting:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.SUBMITTED for o in resting), T)
    mark = len(recorder.statuses)
    venue.drop_connections(refuse_for=1.5)
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, T, after=mark)
    assert all(o.unknown_outcome for o in resting)
    # While the client is away: one order filled in two parts, one filled, one untouched.
    venue.fill(resting[0].client_order_id, 4, 1.0)
    venue.fill(resting[0].client_order_id, 6, 1.0)
    venue.fill(resting[1].client_order_id)
    assert recorder.wait(lambda: connector.is_connected and ConnectorStatus.CONNECTED
                         in recorder.statuses[mark:], 3 * T), "did not reconnect"
    assert recorder.wait(lambda: not any(o.unknown_outcome for o in resting), T)
    assert resting[0].status is OrderStatus.FILLED and resting[1].status is OrderStatus.FILLED
    assert resting[2].status is OrderStatus.SUBMITTED
    for order in resting:
        truth = [f["exec_id"] for f in venue.fills_of(order.client_order_id)]
        assert [f.exec_id for f in order.fills] == truth
        assert venue.orders_received_count(order.client_order_id) == 1
    assert recorder.wait_updates(3, T, symbol="AAA"), "market data did not resume"
    # Asking again re-reports the same executions: all de-duplicated.
    before = connector.get_stats()["fills_applied"]
    assert connector.request_order_states(resting, 5.0) == {o.client_order_id for o in resting}
    assert connector.get_stats()["fills_applied"] == before
    assert connector.get_stats()["duplicate_fills"] >= 3


def test_sequence_gap_is_resent_and_nothing_is_lost(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    assert venue.skip_sequence_number() == 1
    orders = [Order("AAA", OrderSide.BUY, 1) for _ in range(5)]
    for order in orders:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in orders), T), \
        (orders, connector.get_stats()["sequence_gaps"], dict(connector.fix_counters))
    assert connector.is_connected
    for order in orders:
        assert [f.exec_id for f in order.fills] == [
            f["exec_id"] for f in venue.fills_of(order.client_order_id)]


def test_refused_logon_is_a_clear_error_then_recovers(
        venue: FIXVenue, make_connector: Callable[..., FIXConnector]) -> None:
    venue.refuse_logons(30)
    connector = make_connector(connect_timeout=3.0)
    assert connector.connect() is False
    assert connector.status is ConnectorStatus.ERROR
    assert "logon refused" in connector.get_stats()["last_error"]
    venue.refuse_logons(0)
    assert connector.connect()
    assert connector.is_connected_check()


def test_dead_venue_is_a_clear_error(make_connector: Callable[..., FIXConnector],
                                     venue: FIXVenue) -> None:
    connector = make_connector(port=1, connect_timeout=1.5)
    assert connector.connect() is False
    assert "no FIX Logon from 127.0.0.1:1" in connector.get_stats()["last_error"]


def test_file_store_keeps_sequence_numbers_across_restarts(
        venue: FIXVenue, router: DataFeedRouter, tmp_path: Path) -> None:
    entry = {**venue.config_entry(), **FAST, "store": "file", "store_path": str(tmp_path)}
    entry.pop("type")
    first = FIXConnector(router, **entry)
    assert first.connect()
    for _ in range(3):
        first.send_order(Order("AAA", OrderSide.BUY, 1))
    assert wait_until(lambda: first.get_stats()["orders_filled"] == 3, T)
    sent, received = first.sequence_numbers()
    logouts = venue.logouts_received
    first.close()  # a graceful stop: a Logout, then the store keeps the numbers
    assert wait_until(lambda: venue.logouts_received == logouts + 1, T), "no Logout"
    assert any(tmp_path.iterdir()), "the file store wrote nothing"
    second = FIXConnector(router, **entry)
    try:
        assert second.connect(), second.get_stats()["last_error"]
        seq = second.sequence_numbers()
        assert seq is not None and seq[0] > sent and seq[1] > received
        order = Order("AAA", OrderSide.BUY, 1)
        second.send_order(order)
        assert wait_until(lambda: order.status is OrderStatus.FILLED, T)
    finally:
        second.close()


def test_credentials_are_sent_and_never_logged(
        router: DataFeedRouter, caplog: pytest.LogCaptureFixture,
        test_dictionaries: str) -> None:
    venue = FIXVenue(username="trader", password="s3cret-pw-42",
                     data_dictionary=test_dictionaries)
    entry = venue.start()
    entry.pop("type")
    try:
        with caplog.at_level(logging.DEBUG):
            good = FIXConnector(router, **{**entry, **FAST})
            assert good.connect()
            assert "s3cret-pw-42" not in repr(good.settings)
            good.close()
            bad = FIXConnector(router, **{**entry, **FAST, "password": "wrong-pw-99"})
            assert bad.connect() is False
            assert "bad username or password" in bad.get_stats()["last_error"]
            bad.close()
        assert "s3cret-pw-42" not in caplog.text and "wrong-pw-99" not in caplog.text
        assert "s3cret-pw-42" not in str(good.get_stats())
    finally:
        venue.stop()


def test_a_second_session_with_the_same_comp_ids_is_refused_clearly(
        venue: FIXVenue, live: Live, make_connector: Callable[..., FIXConnector]) -> None:
    connector, _ = live
    twin = make_connector()
    assert twin.connect() is False
    assert "already open in this process" in twin.get_stats()["last_error"]
    order = Order("AAA", OrderSide.BUY, 1)
    connector.send_order(order)  # the first session is untouched
    assert wait_until(lambda: order.status is OrderStatus.FILLED, T)


def test_a_venue_that_refused_logons_leaves_no_session_behind(
        router: DataFeedRouter, test_dictionaries: str) -> None:
    """A RejectLogon raised in a callback keeps the acceptor's frames alive; the venue after
    it, with the same CompIDs, must still own its session (else its sends vanish)."""
    for round_ in range(2):
        venue = FIXVenue(data_dictionary=test_dictionaries)
        entry = venue.start()
        entry.pop("type")
        connector = FIXConnector(router, **{**entry, **FAST, "connect_timeout": 2.0})
        try:
            if round_ == 0:
                venue.refuse_logons(30)
                assert connector.connect() is False
                continue
            assert connector.connect(), connector.get_stats()["last_error"]
            order = Order("AAA", OrderSide.BUY, 1)
            connector.send_order(order)
            assert wait_until(lambda o=order: o.status is OrderStatus.FILLED, T)
        finally:
            connector.close()
            venue.stop()


def test_fills_from_a_venue_that_answers_status_with_totals_only(
        router: DataFeedRouter, test_dictionaries: str, version: str) -> None:
    """Many venues answer an OrderStatusRequest with one report (CumQty/AvgPx), not every
    execution again: what was filled while away is booked from the totals."""
    venue = FIXVenue(version=version, data_dictionary=test_dictionaries,
                     status_repeats_fills=False)
    entry = venue.start()
    entry.pop("type")
    connector = FIXConnector(router, **{**entry, **FAST})
    recorder = Recorder(connector, router)
    try:
        assert connector.connect()
        resting = [Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
                   for _ in range(2)]
        for order in resting:
            connector.send_order(order)
        assert recorder.wait(lambda: all(o.status is OrderStatus.SUBMITTED for o in resting), T)
        mark = len(recorder.statuses)
        venue.drop_connections(refuse_for=1.0)
        assert recorder.wait_status(ConnectorStatus.RECONNECTING, T, after=mark)
        venue.fill(resting[0].client_order_id, 4, 1.0)
        venue.fill(resting[0].client_order_id, 6, 2.0)
        venue.fill(resting[1].client_order_id, 3, 1.5)
        assert recorder.wait(lambda: not any(o.unknown_outcome for o in resting), 3 * T)
        assert resting[0].status is OrderStatus.FILLED
        assert resting[0].filled_quantity == 10
        assert resting[0].avg_fill_price == pytest.approx(1.6)
        assert resting[1].status is OrderStatus.PARTIALLY_FILLED
        assert resting[1].filled_quantity == 3
        assert connector.get_stats()["fix"]["fills_from_status"] == 2
        before = connector.get_stats()["fills_applied"]
        connector.request_order_states(resting, 5.0)  # the same totals again: nothing new
        assert connector.get_stats()["fills_applied"] == before
        assert resting[0].filled_quantity == 10 and resting[1].filled_quantity == 3
    finally:
        recorder.close()
        connector.close()
        venue.stop()


@pytest.mark.parametrize("version", ["FIX44"])  # message level: one version is enough
def test_an_execution_resent_after_its_totals_were_booked_is_not_counted_twice(
        live: Live, version: str) -> None:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    cid = order.client_order_id

    def report(exec_id: str, exec_type: str, status: str, last: float, cum: float) -> None:
        body = [(37, "V1"), (11, cid), (17, exec_id), (150, exec_type), (39, status),
                (55, "AAA"), (54, "1"), (38, "10"), (151, str(10 - cum)), (14, str(cum)),
                (6, "1")]
        if last:
            body += [(32, str(last)), (31, "1")]
        connector._on_execution_report(parse(version, raw(version, "8", body)))

    report("S1", "I", "1", 0, 4)       # status answer: 4 filled while we were away
    assert order.filled_quantity == 4
    report("E1", "F", "1", 4, 4)       # the execution itself, resent later: known
    assert order.filled_quantity == 4
    assert connector.get_stats()["fix"]["fills_known_from_status"] == 1
    report("E2", "F", "2", 6, 10)      # a new execution: applied
    assert order.filled_quantity == 10 and order.status is OrderStatus.FILLED
