"""BaseConnector's shared machinery: status rules, pre-trade checks, backoff, reconnect."""

from __future__ import annotations

import random
import threading
import time

import pytest
from stockfish_core.backoff import Backoff
from stockfish_core.connector import ConnectorStatus
from stockfish_core.errors import NotConnectedError, OrderRejectedError
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.sim import SimConnector
from stockfish_core.testing import Recorder, wait_until


def make(**overrides: object) -> SimConnector:
    settings = {"reconnect_initial_delay": 0.02, "reconnect_max_delay": 0.05, **overrides}
    return SimConnector(router=DataFeedRouter(), venue=f"base-{now_ns()}", **settings)


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(initial=0.1, max_delay=1.0, factor=2.0, jitter=0.5,
                      rng=random.Random(1), max_attempts=8)
    delays = list(backoff.delays())
    assert len(delays) == 8
    ceilings = [min(0.1 * 2**i, 1.0) for i in range(8)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays)) == 8
    backoff.reset()
    assert backoff.attempt == 0 and not backoff.exhausted()


def test_illegal_status_transition_is_refused_and_counted() -> None:
    connector = make()
    assert not connector.set_status(ConnectorStatus.CONNECTED)  # DISCONNECTED -> CONNECTED
    assert connector.status is ConnectorStatus.DISCONNECTED
    assert connector.stats.refused_transitions == 1


@pytest.mark.parametrize(("overrides", "order", "reason"), [
    ({"read_only": True}, Order("SPY", "BUY", 1), "read-only"),
    ({"data_only": True}, Order("SPY", "BUY", 1), "data-only"),
    ({"max_order_quantity": 10}, Order("SPY", "BUY", 11), "exceeds max_order_quantity"),
    ({"max_notional": 1000}, Order("SPY", "BUY", 10, OrderType.LIMIT, price=101),
     "exceeds max_notional"),
])
def test_pre_trade_checks_refuse_before_the_wire(overrides: dict, order: Order,
                                                 reason: str) -> None:
    connector = make(**overrides)
    assert connector.connect()
    try:
        with pytest.raises(OrderRejectedError, match=reason):
            connector.send_order(order)
        assert order.status is OrderStatus.REJECTED
        assert reason in (order.reject_reason or "")
        assert connector.venue.orders_received[order.client_order_id] == 0
        assert connector.get_stats()["orders_rejected"] == 1
    finally:
        connector.close()


def test_rate_limit_refuses_the_excess() -> None:
    connector = make(max_orders_per_second=5)
    assert connector.connect()
    try:
        results = []
        for _ in range(8):
            order = Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)
            try:
                connector.send_order(order)
                results.append("sent")
            except OrderRejectedError as exc:
                assert "rate limit" in str(exc)
                results.append("refused")
        assert results == ["sent"] * 5 + ["refused"] * 3
        assert sum(connector.venue.orders_received.values()) == 5
    finally:
        connector.close()


def test_order_owned_by_another_connector_is_refused() -> None:
    a, b = make(), make()
    assert a.connect() and b.connect()
    try:
        order = Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)
        a.send_order(order)
        with pytest.raises(OrderRejectedError, match="already belongs to"):
            b.send_order(order)
        assert b.venue.orders_received[order.client_order_id] == 0
        assert order.connector == a.name and order.status is not OrderStatus.REJECTED
    finally:
        a.close()
        b.close()


def test_reconnect_waits_out_refusals_with_backoff() -> None:
    connector = make()
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    connector.venue.refuse_connections(0.3)
    connector.venue.drop()
    assert recorder.wait(lambda: connector.is_connected
                         and connector.stats.reconnections == 1, 10)
    stats = connector.get_stats()
    assert stats["reconnection_attempts"] >= 2  # at least one refusal before success
    assert stats["connection_errors"] >= 2
    assert recorder.wait_updates(3, 5, symbol="SPY")
    connector.close()


def test_close_stops_a_reconnect_loop_in_bounded_time() -> None:
    connector = make()
    assert connector.connect()
    connector.venue.refuse_connections(60)
    connector.venue.drop()
    stopped = threading.Event()

    def close() -> None:
        connector.close(timeout=5)
        stopped.set()

    threading.Thread(target=close).start()
    assert stopped.wait(6)
    assert connector.status is ConnectorStatus.DISCONNECTED


class _Refused(SimConnector):
    """A venue refusing for a reason retrying cannot cure: the connector gives up."""

    def connect(self) -> bool:
        if self.stats.reconnection_attempts >= 2:
            self.stop_reconnecting("venue: bad password (the account locks after 3)")
            return self.connect_failed("venue: bad password")
        return super().connect()


def test_stop_reconnecting_ends_the_loop_with_error_and_the_reason() -> None:
    connector = _Refused(router=DataFeedRouter(), venue=f"base-{now_ns()}",
                         reconnect_initial_delay=0.02, reconnect_max_delay=0.05)
    try:
        assert connector.connect()
        connector.venue.refuse_connections(60)
        connector.venue.drop()
        assert wait_until(lambda: connector.status is ConnectorStatus.ERROR
                          and not connector.reconnecting, 10), connector.get_stats()
        assert connector.stats.reconnection_attempts == 2
        assert "bad password" in connector.get_stats()["last_error"]
    finally:
        connector.close()


def test_close_racing_a_reconnect_attempt_ends_disconnected() -> None:
    """close() while a reconnect attempt is inside connect(): the attempt's CONNECTING /
    ERROR (or a session it opened) must not outlive the close."""
    for _ in range(50):
        connector = make(reconnect_initial_delay=0.001, reconnect_max_delay=0.001)
        assert connector.connect()
        connector.venue.refuse_connections(60)
        connector.venue.drop()  # the reconnect loop now retries as fast as it can
        connector.close(timeout=5)
        assert connector.status is ConnectorStatus.DISCONNECTED
        connector.venue.stop()


def test_fills_during_a_drop_are_applied_once_after_reconcile() -> None:
    connector = make()
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    order = Order("SPY", "BUY", 250)
    connector.venue.latency = 0.05  # the drop lands before the acknowledgement
    connector.send_order(order)
    connector.venue.drop()
    assert recorder.wait(lambda: any(e.kind == "unknown_outcome"
                                     for e in recorder.order_events), 5)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED
                         and not order.unknown_outcome, 10)
    venue_fills = [f for f in connector.venue.fills
                   if f["client_order_id"] == order.client_order_id]
    assert [f.exec_id for f in order.fills] == [f["exec_id"] for f in venue_fills]
    assert connector.venue.orders_received[order.client_order_id] == 1
    connector.close()


def test_send_while_disconnected_raises_not_connected() -> None:
    connector = make()
    order = Order("SPY", "BUY", 1)
    with pytest.raises(NotConnectedError):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED


def test_reconnect_after_a_stale_session_does_not_duplicate_data() -> None:
    connector = make()
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, 5, symbol="SPY")
    connector.handle_connection_error("stale: no heartbeat")  # the session itself is alive
    assert recorder.wait(lambda: connector.is_connected
                         and connector.stats.reconnections == 1, 5)
    assert len(connector.venue.sessions) == 1
    assert recorder.wait_updates(20, 5, symbol="SPY")
    seqs = [u.sequence for u in recorder.updates]
    assert len(seqs) == len(set(seqs)), "an update was delivered twice"
    connector.close()


def test_a_drop_during_reconciliation_is_not_lost() -> None:
    class Flaky(SimConnector):
        drops_left = 1

        def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
            if self.drops_left:
                self.drops_left -= 1
                self.venue.drop()  # the link goes again while we reconcile
                raise ConnectionError("link lost while reconciling")
            return super().request_order_states(orders, timeout)

    connector = Flaky(router=DataFeedRouter(), venue=f"flaky-{now_ns()}",
                      reconnect_initial_delay=0.02, reconnect_max_delay=0.05)
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    order = Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, 5)
    connector.venue.drop()
    assert recorder.wait(lambda: connector.is_connected and not order.unknown_outcome, 10), \
        connector.get_stats()
    assert connector.stats.reconnections >= 2
    connector.close()


def test_venue_never_fills_an_order_before_accepting_it() -> None:
    connector = make(tick_interval=0.002, latency=0.05)
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    order = Order("SPY", "BUY", 7)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, 5)
    venue_fills = [f for f in connector.venue.fills if f["client_order_id"] == order.client_order_id]
    assert len(venue_fills) == 1 and venue_fills[0]["quantity"] == 7
    connector.close()


def test_old_terminal_orders_are_forgotten_beyond_the_cap() -> None:
    class Small(SimConnector):
        max_terminal_orders = 20

    connector = Small(router=DataFeedRouter(), venue=f"cap-{now_ns()}")
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    working = Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)
    connector.send_order(working)
    done = []
    for _ in range(40):
        order = Order("SPY", "BUY", 1)
        connector.send_order(order)
        assert recorder.wait(lambda o=order: o.status is OrderStatus.FILLED, 5)
        done.append(order)
    assert len(connector.orders) <= 21
    assert connector.find_order(working.client_order_id) is working  # open: kept
    assert connector.find_order(done[-1].client_order_id) is done[-1]
    connector.close()


def test_watchdog_detects_a_silent_connection_within_two_intervals() -> None:
    connector = make(heartbeat_interval=0.2, tick_interval=0.01)
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, 5)
    connector.venue.hang(1.5)  # bytes stop, the "socket" stays up
    hung_at = time.monotonic()
    assert recorder.wait(lambda: not connector.is_connected, 2.0)
    detected = time.monotonic() - hung_at
    assert detected <= 2 * 0.2 + 0.2, detected  # two intervals plus one watchdog period
    assert "no heartbeat" in (connector.stats.last_error or "")
    assert recorder.wait(lambda: connector.is_connected, 10)
    connector.close()


class _Probing(SimConnector):
    """Records the watchdog's hooks and cuts the link itself, as a connector whose
    protocol library still believes a stalled link is up must (FIX)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.quiet_ages: list[float] = []
        self.silence_ages: list[float] = []

    def on_quiet(self, age: float) -> None:
        self.quiet_ages.append(age)

    def on_silence(self, age: float) -> None:
        self.silence_ages.append(age)
        self.handle_connection_error(f"cut after {age:.2f} s of silence")


def test_watchdog_probes_a_quiet_connection_then_cuts_a_silent_one() -> None:
    interval = 0.2
    connector = _Probing(router=DataFeedRouter(), venue=f"probe-{now_ns()}",
                         reconnect_initial_delay=0.02, reconnect_max_delay=0.05,
                         heartbeat_interval=interval, tick_interval=0.01)
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, 5)
    assert connector.quiet_ages == []  # data flows: nothing to probe
    seen = len(recorder.statuses)
    connector.venue.hang(1.0)
    assert recorder.wait(lambda: ConnectorStatus.RECONNECTING in recorder.statuses[seen:], 2.0)
    assert connector.quiet_ages and all(interval < a <= 2 * interval for a in
                                        connector.quiet_ages)
    assert connector.silence_ages and connector.silence_ages[0] > 2 * interval
    assert "cut after" in (connector.stats.last_error or "")
    assert recorder.wait(lambda: connector.is_connected, 10)
    connector.close()


def test_a_counted_connection_error_is_never_seen_with_the_old_status(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Who sees connection_errors move must also see the loss (a test or a health check
    that waits for the count and then reads is_connected once read a stale CONNECTED),
    and who sees the new status must see last_error."""
    connector = make(auto_reconnect=False)
    seen: list[tuple[ConnectorStatus, str | None]] = []
    at_status: list[str | None] = []
    count = connector._count_connection_error

    def counting(text: str) -> None:
        seen.append((connector.status, connector.stats.last_error))
        count(text)

    monkeypatch.setattr(connector, "_count_connection_error", counting)
    connector.add_status_listener(lambda c, old, new, reason: at_status.append(
        c.stats.last_error))
    assert connector.connect()
    connector.handle_connection_error("link lost")
    assert seen == [(ConnectorStatus.ERROR, "link lost")]
    assert at_status[-1] == "link lost"
    assert connector.stats.connection_errors == 1
    connector.connect_failed("venue refused")
    assert connector.stats.connection_errors == 2
    connector.close()


def test_stale_symbols_lower_the_health_score() -> None:
    """``stale_symbols()`` (a connector's per-symbol staleness; none by default) is in the
    health report and takes up to 40 points off, by the share of symbols stale."""
    from stockfish_core.connector import BaseConnector
    from stockfish_core.health import health_report, health_score
    from stockfish_core.models import DataType

    class Watched(SimConnector):
        stale: dict[str, str] = {}

        def stale_symbols(self) -> dict[str, str]:
            return dict(self.stale)

    connector = Watched(router=DataFeedRouter(), venue=f"stale-{now_ns()}",
                        heartbeat_interval=3600.0)
    assert connector.connect()
    try:
        assert BaseConnector.stale_symbols(connector) == {}
        for symbol in ("A", "B"):
            connector.record_subscription(DataType.PRICE_TICK, symbol)
        fresh = health_score(connector)
        connector.stale = {"A": "no market data for 31.0 s"}
        assert health_score(connector) == pytest.approx(fresh - 20.0, abs=0.5)
        assert health_report(connector)["stale_symbols"] == {"A": "no market data for 31.0 s"}
        connector.stale = {"A": "x", "B": "y"}
        assert health_score(connector) == pytest.approx(fresh - 40.0, abs=0.5)
    finally:
        connector.close()
