"""Faults injected at the fake TWS: drops, outages, stalls, restarts, farm and link errors."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from stockfish_core.connector import ConnectorStatus
from stockfish_core.errors import NotConnectedError
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IB_COUNTERS, ClientIdInUseError, IBKRConnector
from stockfish_ibkr.testing import FakeTWS

Live = tuple[IBKRConnector, Recorder]
T = 10.0


def _reconnected(recorder: Recorder, connector: IBKRConnector, mark: int) -> bool:
    return recorder.wait(lambda: connector.is_connected
                         and ConnectorStatus.CONNECTED in recorder.statuses[mark:], 3 * T)


def _resting(symbol: str = "SPY", qty: float = 7) -> Order:
    return Order(symbol, OrderSide.BUY, qty, OrderType.LIMIT, price=1.0,
                 time_in_force=TimeInForce.GTC)


def test_fill_during_outage_is_applied_exactly_once(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    mark = len(recorder.statuses)
    tws.refuse_connections(1.0)
    tws.drop_connections()
    assert recorder.wait(lambda: ConnectorStatus.RECONNECTING in recorder.statuses[mark:], T)
    assert order.unknown_outcome
    assert tws.fill_working_orders("SPY") == 1  # while the client is away
    assert _reconnected(recorder, connector, mark)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED
                         and not order.unknown_outcome, T)
    venue_fills = [e for e in tws.executions if e["order_ref"] == order.client_order_id]
    assert [f.exec_id for f in order.fills] == [e["exec_id"] for e in venue_fills]
    assert order.filled_quantity == 7
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY"), "resubscribed"
    connector.reconcile_orders()  # asking again changes nothing
    assert len(order.fills) == 1
    stats = connector.get_stats()
    assert stats["fills_applied"] == 1 and stats["orders_filled"] == 1
    assert [r["order_ref"] for r in tws.orders_received].count(order.client_order_id) == 1


def test_working_order_cancelled_during_outage_is_reconciled(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    mark = len(recorder.statuses)
    tws.refuse_connections(0.5)
    tws.drop_connections()
    assert tws.cancel_working_orders() == 1  # while the client is away
    assert _reconnected(recorder, connector, mark)
    assert recorder.wait(lambda: order.status is OrderStatus.CANCELLED
                         and not order.unknown_outcome, T)
    assert order.filled_quantity == 0


def test_heartbeat_loss_is_detected_within_two_intervals(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    interval = 0.5
    connector = make_connector(heartbeat_interval=interval)
    changes: list[tuple[ConnectorStatus, float]] = []
    connector.add_status_listener(lambda c, old, new, r: changes.append((new, time.monotonic())))
    recorder = Recorder(connector, router)
    assert connector.connect()
    start = time.monotonic()
    tws.stall(True)
    assert recorder.wait(lambda: any(s is ConnectorStatus.RECONNECTING for s, _ in changes), T)
    detected = next(t for s, t in changes if s is ConnectorStatus.RECONNECTING) - start
    assert detected <= 2 * interval + 0.4, f"stall noticed after {detected:.2f}s"
    assert "heartbeat" in (connector.get_stats()["last_error"] or "")
    assert connector.get_stats()["ibkr"]["heartbeats_missed"] == 1  # counted before the drop
    tws.stall(False)
    # Back means a whole new session: reconnected, not only the status flag.
    assert recorder.wait(lambda: connector.is_connected
                         and connector.get_stats()["reconnections"] >= 1, 3 * T)
    ibkr = connector.get_stats()["ibkr"]
    assert ibkr["heartbeats_missed"] == 1, ibkr
    assert ibkr["heartbeats_sent"] >= 1
    recorder.close()


def test_stats_report_every_ib_counter_from_the_start(
        make_connector: Callable[..., IBKRConnector]) -> None:
    connector = make_connector()
    before = connector.get_stats()["ibkr"]
    assert set(IB_COUNTERS) <= set(before)
    assert all(before[name] == 0 for name in IB_COUNTERS)
    assert connector.connect()
    assert set(IB_COUNTERS) <= set(connector.get_stats()["ibkr"])


def test_request_in_flight_fails_at_once_when_the_session_is_dropped(
        make_connector: Callable[..., IBKRConnector], tws: FakeTWS) -> None:
    """A stall cut by the heartbeat ends the session: a request waiting on it fails then,
    not after its own timeout (the backends leave such a request pending for ever)."""
    connector = make_connector(heartbeat_interval=0.5, request_timeout=20.0)
    assert connector.connect()
    outcome: list[BaseException | object] = []
    done = threading.Event()

    def ask() -> None:
        try:
            outcome.append(connector.get_positions())
        except BaseException as exc:
            outcome.append(exc)
        done.set()

    tws.stall(True)
    threading.Thread(target=ask, daemon=True).start()
    assert done.wait(T), "the request waited for its own 20 s timeout"
    assert isinstance(outcome[0], NotConnectedError), outcome
    assert connector.get_stats()["ibkr"]["requests_cut_by_disconnect"] >= 1
    tws.stall(False)


def test_concurrent_reconciliations_both_get_answers(live: Live) -> None:
    """ib_insync keys open/completed-order replies by name: two reconciliations in flight
    at once (reconnect and the unseen-order recheck) must not orphan each other."""
    connector, recorder = live
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda: reports.append(connector.reconcile_orders(3.0)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * T)
    assert [r.answered for r in reports] == [1, 1, 1], reports


def test_connection_closed_during_handshake_fails_fast(
        make_connector: Callable[..., IBKRConnector]) -> None:
    """A listener that reads the API greeting and then closes (as TWS does with a client it
    does not trust) is a clear failure at once, not a wait for the handshake timeout: the
    backends raise nothing for a socket closed while they are still connecting."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(T)
    greeted = threading.Event()

    def refuse_after_greeting() -> None:
        with contextlib.suppress(OSError):
            peer, _ = listener.accept()
            with peer:
                peer.settimeout(T)
                if peer.recv(64).startswith(b"API"):
                    greeted.set()
                peer.shutdown(socket.SHUT_RDWR)  # a clean FIN

    server = threading.Thread(target=refuse_after_greeting, daemon=True)
    server.start()
    connector = make_connector(port=listener.getsockname()[1], connect_timeout=20.0)
    finished = threading.Event()
    result: list[bool] = []
    threading.Thread(target=lambda: (result.append(connector.connect()), finished.set()),
                     daemon=True).start()
    try:
        assert finished.wait(T), "waited for the 20 s handshake timeout"
    finally:
        server.join(T)
        listener.close()
    assert greeted.is_set()
    assert result == [False]
    assert connector.status is ConnectorStatus.ERROR
    assert "closed the connection during the API handshake" in (
        connector.get_stats()["last_error"] or "")


def test_next_valid_id_rollback_never_reuses_an_id(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    resting = _resting()
    connector.send_order(resting)
    done = [Order("SPY", OrderSide.BUY, 1) for _ in range(3)]
    for order in done:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in done)
                         and resting.status is OrderStatus.SUBMITTED, T)
    high = connector.ibkr_order_map.high_water_mark
    mark = len(recorder.statuses)
    tws.restart(next_valid_id=1, downtime=0.3)  # the nightly restart hands out 1 again
    assert _reconnected(recorder, connector, mark)
    assert recorder.wait(lambda: not resting.unknown_outcome, T)
    later = [Order("SPY", OrderSide.SELL, 1) for _ in range(3)]
    for order in later:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.FILLED for o in later), T)
    assert all(int(o.order_id or 0) > high for o in later)
    ids = [r["order_id"] for r in tws.orders_received]
    assert len(ids) == len(set(ids)) == 7
    assert tws.stats().get("order_id_reuse", 0) == 0
    assert tws.fill_working_orders("SPY") == 1
    assert recorder.wait(lambda: resting.status is OrderStatus.FILLED, T)
    assert [len(o.fills) for o in done + later] == [1] * 6, "no fill went to the wrong order"


@pytest.mark.parametrize("data_lost", [True, False])
def test_ib_link_loss_1100_then_restored(live: Live, tws: FakeTWS, data_lost: bool) -> None:
    connector, recorder = live
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    requests = tws.stats()["mkt_data_requests"]
    connections = tws.stats()["connections"]
    mark = len(recorder.statuses)
    tws.connectivity_lost()
    assert recorder.wait(lambda: ConnectorStatus.RECONNECTING in recorder.statuses[mark:], T)
    assert order.unknown_outcome
    tws.connectivity_restored(data_lost=data_lost)
    assert _reconnected(recorder, connector, mark)
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY"), "ticks resumed"
    assert recorder.wait(lambda: not order.unknown_outcome, T)
    assert order.status is OrderStatus.SUBMITTED
    after = tws.stats()["mkt_data_requests"]
    assert (after > requests) if data_lost else (after == requests)
    assert tws.stats()["connections"] == connections, "the socket to TWS stayed up"


@pytest.mark.parametrize("resume", [False, True])
def test_data_farm_outage_watchdog(make_connector: Callable[..., IBKRConnector],
                                   router: DataFeedRouter, tws: FakeTWS, resume: bool) -> None:
    connector = make_connector(farm_watchdog=0.3)
    recorder = Recorder(connector, router)
    assert connector.connect()
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    mark = len(recorder.statuses)
    tws.farm_lost()
    assert recorder.wait(lambda: connector.get_stats()["ibkr"]["farm_down"], T)
    tws.farm_restored(resume_streams=resume)
    assert recorder.wait_updates(5, T, DataType.PRICE_TICK, "SPY"), "the feed stayed dead"
    rerequests = connector.get_stats()["ibkr"].get("md_rerequests", 0)
    assert (rerequests == 0) if resume else (rerequests >= 1)
    assert recorder.statuses[mark:] == [], "a farm outage is not a disconnect"
    recorder.close()


def test_not_connected_error_504_reconnects(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    mark = len(recorder.statuses)
    tws.send_error(504, "Not connected")
    assert _reconnected(recorder, connector, mark)
    assert connector.get_stats()["reconnections"] >= 1


def test_refused_connection_is_a_clear_failure(make_connector: Callable[..., IBKRConnector],
                                               tws: FakeTWS) -> None:
    tws.refuse_connections(30.0)
    connector = make_connector(connect_timeout=1.0)
    assert connector.connect() is False
    assert connector.status is ConnectorStatus.ERROR
    assert "refused" in (connector.get_stats()["last_error"] or "")


def test_client_id_in_use_326(live: Live, make_connector: Callable[..., IBKRConnector]) -> None:
    other = make_connector(connect_timeout=3.0)
    started = time.monotonic()
    with pytest.raises(ClientIdInUseError, match="326"):
        other.connect()
    assert time.monotonic() - started < 3.0, "326 is reported at once, not as a timeout"
    assert other.status is ConnectorStatus.ERROR
    assert live[0].is_connected


def test_delayed_replies_still_work(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.set_reply_delay(0.2)
    order = Order("SPY", OrderSide.BUY, 2)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, T)
    assert connector.is_connected_check()
    assert connector.get_stats()["connection_errors"] == 0


def test_own_pacing_keeps_tws_below_its_limit(make_connector: Callable[..., IBKRConnector],
                                              tws: FakeTWS) -> None:
    tws.max_messages_per_second = 10
    connector = make_connector(max_messages_per_second=9)
    assert connector.connect()
    for _ in range(16):
        assert connector.is_connected_check()
    assert connector.get_stats()["ibkr"]["pacing_waits"] > 0
    assert tws.stats().get("pacing_violations", 0) == 0


def test_close_stops_the_loop_thread(make_connector: Callable[..., IBKRConnector]) -> None:
    connector = make_connector()
    assert connector.connect()
    thread = connector._loop_thread.thread  # type: ignore[union-attr]
    connector.close()
    thread.join(5.0)
    assert not thread.is_alive()
    assert connector.status is ConnectorStatus.DISCONNECTED


def test_connects_from_a_worker_thread_in_a_fresh_process(tws: FakeTWS) -> None:
    """The manager connects from worker threads; the backend's first import there (eventkit
    wants the thread's event loop at import time) must not fail."""
    import subprocess
    import sys

    script = (
        "import threading\n"
        "from stockfish_ibkr.connector import IBKRConnector\n"
        "result = []\n"
        "def go():\n"
        f"    c = IBKRConnector(port={tws.port}, connect_timeout=5)\n"
        "    result.append(c.connect())\n"
        "    c.close()\n"
        "t = threading.Thread(target=go, name='manager-ibkr')\n"
        "t.start()\n"
        "t.join(20)\n"
        "print(result)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.stdout.strip() == "[True]", out.stderr[-2000:]


def test_close_during_a_reconnect_handshake_leaves_no_session_at_tws(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    """close() while the reconnect thread is in the API handshake: the session that
    handshake completes afterwards is closed too, not left holding the client id."""
    connector = make_connector()
    recorder = Recorder(connector, router)
    assert connector.connect()
    mark = len(recorder.statuses)
    tws.set_reply_delay(0.4)  # the next handshake takes more than a second
    tws.drop_connections()
    assert recorder.wait(lambda: ConnectorStatus.CONNECTING in recorder.statuses[mark:], T)
    connector.close(timeout=5.0)
    tws.set_reply_delay(0.0)
    assert recorder.wait(lambda: tws.connected_clients == 0, T), \
        "a session opened during close() is still up at TWS"
    assert not connector.is_connected
    recorder.close()
