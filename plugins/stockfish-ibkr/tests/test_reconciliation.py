"""Reconciliation verdicts after TWS restarts and lost messages, order ids across restarts of
TWS and of the application, and the noise that hid real problems."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from stockfish_core.connector import ConnectorStatus
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fault_proxy import FaultProxy
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.reconciliation import Verdict
from stockfish_ibkr.testing import FakeTWS

Live = tuple[IBKRConnector, Recorder]
T = 10.0


def _resting(qty: float = 7) -> Order:
    return Order("SPY", OrderSide.BUY, qty, OrderType.LIMIT, price=1.0,
                 time_in_force=TimeInForce.GTC)


def _reconnected(recorder: Recorder, connector: IBKRConnector, mark: int) -> bool:
    return recorder.wait(lambda: connector.is_connected
                         and ConnectorStatus.CONNECTED in recorder.statuses[mark:], 3 * T)


def _reasons(recorder: Recorder, order: Order, kind: str) -> list[str]:
    return [e.reason or "" for e in list(recorder.order_events)
            if e.client_order_id == order.client_order_id and e.kind == kind]


def test_an_acknowledged_order_tws_forgot_stays_unknown_with_the_reason(
        live: Live, tws: FakeTWS) -> None:
    """The same verdict for a working and a partly filled order TWS lost in a restart:
    unknown outcome, 'TWS lost its record', an event; never 'never received'."""
    connector, recorder = live
    working, partial = _resting(), _resting(qty=250)
    connector.send_order(working)
    connector.send_order(partial)
    assert recorder.wait(lambda: working.status is OrderStatus.SUBMITTED
                         and partial.status is OrderStatus.SUBMITTED, T)
    perm = connector.ibkr_order_map.ids(partial.client_order_id)[1]  # type: ignore[index]
    tws.fill_order(perm, 100)
    assert recorder.wait(lambda: partial.status is OrderStatus.PARTIALLY_FILLED, T)
    mark = len(recorder.statuses)
    lost = tws.restart(next_valid_id=1, downtime=0.3, forget=True)
    assert {o["order_ref"] for o in lost} == {working.client_order_id, partial.client_order_id}
    assert _reconnected(recorder, connector, mark)
    for order in (working, partial):
        assert recorder.wait(lambda o=order: any("TWS lost its record" in r for r in _reasons(
            recorder, o, "unknown_outcome")), T), order
        assert order.unknown_outcome and order.is_open, order
        assert connector.verdict(order) is Verdict.LOST_BY_TWS
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.filled_quantity == 100
    assert working.status is OrderStatus.SUBMITTED
    assert connector.get_stats()["ibkr"]["orders_lost_by_tws"] == 2
    report = connector.reconcile_orders()  # asked again: the same verdict, said once
    assert sorted(report.still_unknown) == sorted([working.client_order_id,
                                                   partial.client_order_id])
    assert len(_reasons(recorder, working, "unknown_outcome")) == 2  # the drop, then this
    # TWS reports it again (it is back in TWS's book): settled.
    tws.add_external_order("SPY", "BUY", 7, limit_price=1.0, client_id=1,
                           order_ref=working.client_order_id)
    assert recorder.wait(lambda: not working.unknown_outcome, T)
    assert working.status is OrderStatus.SUBMITTED
    assert partial.unknown_outcome


def test_an_order_tws_never_received_is_rejected_after_the_grace(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    """An order written into a stalled link whose bytes are lost when it is reset never
    reaches TWS: REJECTED 'never received', once the grace for late bytes has passed."""
    proxy = FaultProxy(tws.port)
    try:
        connector = make_connector(port=proxy.port, heartbeat_interval=0.5)
        recorder = Recorder(connector, router)
        assert connector.connect()
        connector.qualify("SPY")  # nothing but the order itself goes into the stall
        proxy.stall()
        order = _resting()
        connector.send_order(order)  # written into the stalled link
        proxy.cut(rst=True)  # the reset discards what the link still held
        proxy.resume()
        assert recorder.wait(lambda: order.status is OrderStatus.REJECTED, 3 * T), order
        assert "never received" in (order.reject_reason or "")
        assert not order.unknown_outcome
        assert tws.orders_received == []
        recorder.close()
    finally:
        proxy.close()


def test_order_ids_are_not_reused_across_an_application_restart(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    """The first process fills four orders and leaves one working; TWS restarts and hands
    out 1 again; a second process (a fresh connector) places four more: none reuses an
    id, none is refused with 103 / 104."""
    first = make_connector()
    recorder = Recorder(first, router)
    assert first.connect()
    filled = [Order("SPY", OrderSide.BUY, 1) for _ in range(4)]
    resting = _resting()
    for order in (*filled, resting):
        first.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in filled)
                         and resting.status is OrderStatus.SUBMITTED, T)
    used = first.ibkr_order_map.high_water_mark
    recorder.close()
    first.close()
    tws.restart(next_valid_id=1)
    second = make_connector()
    recorder = Recorder(second, router)
    assert second.connect()
    assert second.ibkr_order_map.high_water_mark >= used  # from open orders and executions
    assert second.get_stats()["ibkr"]["order_id_rollbacks"] == 1
    later = [Order("SPY", OrderSide.SELL, 1) for _ in range(4)]
    for order in later:
        second.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in later), T), \
        [o.reject_reason for o in later]
    assert all(int(o.order_id or 0) > used for o in later)
    assert tws.stats().get("order_id_reuse", 0) == 0
    ids = [r["order_id"] for r in tws.orders_received]
    assert len(ids) == len(set(ids)) == 9
    recorder.close()


def test_a_saved_high_water_mark_is_honoured(make_connector: Callable[..., IBKRConnector],
                                             router: DataFeedRouter, tws: FakeTWS) -> None:
    connector = make_connector()
    raised: list[int] = []
    connector.ibkr_order_map.on_high_water_mark = raised.append
    connector.load_order_id_high_water_mark(500)
    recorder = Recorder(connector, router)
    assert connector.connect()
    order = Order("SPY", OrderSide.BUY, 1)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, T)
    assert int(order.order_id or 0) > 500  # request ids share the sequence
    assert raised[0] == 500 and raised[-1] == int(order.order_id or 0)
    assert connector.get_stats()["ibkr"]["order_id_rollbacks"] == 1  # TWS proposed 1
    recorder.close()


def test_a_fill_logs_no_stale_status_warning(make_connector: Callable[..., IBKRConnector],
                                             router: DataFeedRouter, tws: FakeTWS,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """TWS re-sends openOrder between a fill and its orderStatus; ib_insync reports it with
    the status from before the fill. That is not a refused transition worth a WARNING."""
    tws.configure(open_order_on_fill=True)
    connector = make_connector()
    recorder = Recorder(connector, router)
    assert connector.connect()
    orders = [Order("SPY", OrderSide.BUY, 150) for _ in range(3)]  # two fills each
    with caplog.at_level(logging.WARNING):
        for order in orders:
            connector.send_order(order)
        assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in orders), T)
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == []
    assert connector.get_stats()["refused_transitions"] == 0
    assert connector.get_stats()["ibkr"]["stale_status_reports"] > 0
    recorder.close()


def test_failed_reconnect_attempts_stay_reconnecting_and_count_once(
        live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    mark = len(recorder.statuses)
    errors = connector.stats.connection_errors
    tws.refuse_connections(1.0)
    tws.drop_connections()
    assert _reconnected(recorder, connector, mark)
    seen = recorder.statuses[mark:]
    assert ConnectorStatus.ERROR not in seen, seen
    attempts = connector.stats.reconnection_attempts
    assert attempts >= 2
    # One for the drop, one per failed attempt (the last attempt succeeded).
    assert connector.stats.connection_errors - errors == attempts


def test_client_id_in_use_while_reconnecting_is_counted_once(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    """Another session takes the client id while the connector is away: each of its
    attempts refused with 326 is one connection error, and the status stays RECONNECTING."""
    connector = make_connector(reconnect_initial_delay=2.0, reconnect_max_delay=2.0)
    recorder = Recorder(connector, router)
    assert connector.connect()
    mark = len(recorder.statuses)
    errors, attempts = connector.stats.connection_errors, connector.stats.reconnection_attempts
    tws.refuse_connections(0.3)  # the first attempt is refused; the intruder comes next
    tws.drop_connections()
    intruder = make_connector(connect_timeout=1.0)
    assert recorder.wait(intruder.connect, T), "the intruder took client id 1"
    assert recorder.wait(lambda: "326" in (connector.stats.last_error or ""), 3 * T)
    intruder.close()
    assert _reconnected(recorder, connector, mark)
    # The drop, then one per failed attempt (the last attempt succeeded).
    assert connector.stats.connection_errors - errors == \
        connector.stats.reconnection_attempts - attempts
    assert ConnectorStatus.ERROR not in recorder.statuses[mark:]
    recorder.close()
