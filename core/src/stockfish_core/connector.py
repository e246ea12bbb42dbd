"""The connector contract: ``BaseConnector`` and its shared machinery.

A connector implements the seed's abstract methods for the session, subscriptions and
normalizers, and the order protocol methods of :class:`~stockfish_core.order_path.OrderPath`
(``submit_order``, ``submit_cancel``, ...). The base class supplies what every connector
needs the same way: status with validated transitions and listeners, statistics, the order
path (validation, ownership, the state machine, journal, events), subscription bookkeeping
for resubscription, reconnect with backoff, and reconciliation of orders after a drop.

Threading: public methods are synchronous and thread-safe. Market data arrives on the
connector's own I/O thread and is handed to :meth:`push_update`, which does no locking,
logging or hook calls.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from stockfish_core import events
from stockfish_core.backoff import Backoff
from stockfish_core.capabilities import Capabilities
from stockfish_core.connector_stats import ConnectorStats, ReconcileReport, percentile_ms
from stockfish_core.enums import ConnectorStatus
from stockfish_core.errors import ConnectorError
from stockfish_core.models import DataType, MarketUpdate, OHLCVBar, now_ns, ns_to_datetime
from stockfish_core.order_path import OrderPath
from stockfish_core.positions import Position, positions_from_fills
from stockfish_core.settings import ConnectorSettings

if TYPE_CHECKING:
    from stockfish_core.router import DataFeedRouter

__all__ = [
    "BaseConnector",
    "Capabilities",
    "ConnectorStats",
    "ConnectorStatus",
    "ReconcileReport",
]

log = logging.getLogger(__name__)

_S = ConnectorStatus
STATUS_TRANSITIONS: dict[ConnectorStatus, frozenset[ConnectorStatus]] = {
    _S.DISCONNECTED: frozenset({_S.CONNECTING, _S.RECONNECTING, _S.ERROR}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.DISCONNECTED, _S.ERROR, _S.RECONNECTING}),
    _S.CONNECTED: frozenset({_S.DISCONNECTED, _S.RECONNECTING, _S.ERROR}),
    _S.RECONNECTING: frozenset({_S.CONNECTING, _S.CONNECTED, _S.DISCONNECTED, _S.ERROR}),
    _S.ERROR: frozenset({_S.CONNECTING, _S.RECONNECTING, _S.DISCONNECTED}),
}


class BaseConnector(OrderPath, ABC):
    """Abstract base of every connector (seed's contract plus shared implementation).

    Subclasses set ``connector_type``, ``capabilities`` and ``settings_class``, implement
    the abstract methods and, to take orders, ``submit_order`` / ``submit_cancel`` (and
    ``request_order_states``, ``submit_replace`` where the venue can). The order path
    itself (``send_order``, ``cancel_order``, ``get_order_status``, ``replace_order``) is
    the core's. Inside a connector, use the helpers: :meth:`set_status`,
    :meth:`push_update`, :meth:`record_data_error`, :meth:`record_heartbeat`,
    :meth:`record_subscription` / :meth:`forget_subscriptions`,
    :meth:`apply_order_status`, :meth:`apply_execution`, :meth:`mark_order_unknown`,
    :meth:`handle_connection_error`. Construct with
    ``Connector(router=None, name=..., settings=..., **setting_overrides)``.
    """

    #: Run the base watchdog: a connection silent (no heartbeat, no update) for two
    #: ``heartbeat_interval`` is reported lost. Connectors with a probe of their own that
    #: already does this may turn it off.
    watchdog: ClassVar[bool] = True

    connector_type: ClassVar[str] = "base"
    capabilities: ClassVar[Capabilities] = Capabilities()
    settings_class: ClassVar[type] = ConnectorSettings

    def __init__(
        self,
        name: str | None = None,
        router: DataFeedRouter | None = None,
        *,
        settings: Any = None,
        data_only: bool | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = self.settings_class(**overrides)
        elif overrides:
            settings = attrs.evolve(settings, **overrides)
        self.settings = settings
        self.name: str = name or self.connector_type
        self.router = router
        caps_data_only = self.capabilities.data_only
        self.data_only: bool = bool(
            caps_data_only or (data_only if data_only is not None
                               else getattr(settings, "data_only", False))
        )
        self.read_only: bool = bool(getattr(settings, "read_only", False))
        self.status = ConnectorStatus.DISCONNECTED
        self.stats = ConnectorStats()
        self.subscriptions: dict[tuple[DataType, str], dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._init_orders()
        self._status_listeners: list[Callable[[BaseConnector, ConnectorStatus,
                                               ConnectorStatus, str | None], None]] = []
        self._closing = threading.Event()
        self._reconnect_lock = threading.Lock()
        self._reconnect_thread: threading.Thread | None = None
        self._watchdog_thread: threading.Thread | None = None
        self._drops = 0  # bumped by every connection error; a reconnect that saw it change
        # while resubscribing or reconciling goes round again instead of trusting the link
        self._give_up_reason: str | None = None  # set by stop_reconnecting()
        self.backoff = Backoff(
            initial=getattr(settings, "reconnect_initial_delay", 0.5),
            max_delay=getattr(settings, "reconnect_max_delay", 30.0),
            max_attempts=getattr(settings, "reconnect_max_attempts", 0),
        )

    # ------------------------------------------------------------------ abstract contract
    @abstractmethod
    def connect(self) -> bool:
        """Open the session; set CONNECTING then CONNECTED (or ERROR). Return success."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the session cleanly and set DISCONNECTED. Must return in bounded time."""

    @abstractmethod
    def is_connected_check(self) -> bool:
        """Probe the live connection (not only the status flag)."""

    @abstractmethod
    def subscribe_price(self, symbol: str) -> bool:
        """Start level-1 updates for ``symbol``; call :meth:`record_subscription`."""

    @abstractmethod
    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Start level-2 updates for ``symbol`` to ``depth`` levels."""

    @abstractmethod
    def subscribe_news(self) -> bool:
        """Start news events (``False`` if the venue has none)."""

    @abstractmethod
    def subscribe_macro(self) -> bool:
        """Start macro events (``False`` if the venue has none)."""

    @abstractmethod
    def unsubscribe(self, symbol: str) -> None:
        """Stop every subscription for ``symbol``; call :meth:`forget_subscriptions`."""

    @abstractmethod
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        """Normalize a venue quote into a PRICE_TICK update (``None`` if rejected)."""

    @abstractmethod
    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        """Normalize a venue book into an ORDERBOOK_SNAPSHOT update."""

    @abstractmethod
    def on_news(self, data: Any) -> MarketUpdate | None:
        """Normalize a venue news item into a NEWS update."""

    @abstractmethod
    def on_macro(self, data: Any) -> MarketUpdate | None:
        """Normalize a venue macro release into a MACRO update."""

    # ------------------------------------------------------------------ optional contract
    def resubscribe_one(self, data_type: DataType, symbol: str, params: dict[str, Any]) -> bool:
        """Re-establish one remembered subscription after a reconnect."""
        if data_type is DataType.PRICE_TICK:
            return self.subscribe_price(symbol)
        if data_type is DataType.ORDERBOOK_SNAPSHOT:
            return self.subscribe_orderbook(symbol, int(params.get("depth", 10)))
        if data_type is DataType.NEWS:
            return self.subscribe_news()
        if data_type is DataType.MACRO:
            return self.subscribe_macro()
        raise NotImplementedError(f"{type(self).__name__} must resubscribe {data_type.value}")

    # ------------------------------------------------------------------ account (optional)
    def get_positions(self) -> list[Position]:
        """Positions at the venue. By default derived from the fills of the orders this
        connector holds (``source="fills"``); a connector whose venue reports them
        overrides this and declares ``capabilities.positions``."""
        if self.data_only or self.capabilities.data_only:
            return []
        return positions_from_fills(self.name, self.tracked_orders())

    def get_account(self) -> dict[str, Any]:
        """Account values the venue reports (``capabilities.account``)."""
        raise ConnectorError(f"{self.name}: this venue reports no account values")

    def get_historical_bars(self, symbol: str, *, duration: str = "1 D",
                            bar_size: str = "1 min", **options: Any) -> list[OHLCVBar]:
        """Historical bars of ``symbol`` over ``duration`` (e.g. ``"1 D"``, ``"3600 S"``) in
        bars of ``bar_size`` (``"1 min"``, ``"5 secs"``) (``capabilities.history``)."""
        raise ConnectorError(f"{self.name}: this venue serves no historical data")

    # ------------------------------------------------------------------ status
    @property
    def is_connected(self) -> bool:
        return self.status is ConnectorStatus.CONNECTED

    @property
    def subscribed_symbols(self) -> set[str]:
        with self._lock:
            return {sym for (_, sym) in self.subscriptions if sym}

    def add_status_listener(
        self, callback: Callable[[BaseConnector, ConnectorStatus, ConnectorStatus, str | None],
                                 None],
    ) -> None:
        """``callback(connector, old, new, reason)`` on every status change (any thread)."""
        self._status_listeners.append(callback)

    def remove_status_listener(self, callback: Callable[..., None]) -> None:
        if callback in self._status_listeners:
            self._status_listeners.remove(callback)

    def set_status(self, status: ConnectorStatus, reason: str | None = None) -> bool:
        """Change status if the transition is legal; notify listeners and hooks."""
        with self._lock:
            old = self.status
            if status is old:
                return False
            if status not in STATUS_TRANSITIONS[old]:
                self.stats.refused_transitions += 1
                log.warning("%s: refused status transition %s -> %s", self.name,
                            old.value, status.value)
                return False
            self.status = status
            self.stats.status_changes += 1
            if status is ConnectorStatus.CONNECTED:
                self.stats.connected_at = now_ns()
                self.stats.last_heartbeat_ns = self.stats.connected_at
                self._start_watchdog()
            elif old is ConnectorStatus.CONNECTED:
                self.stats.connected_at = None
        log.info("%s: %s -> %s%s", self.name, old.value, status.value,
                 f" ({reason})" if reason else "")
        for listener in list(self._status_listeners):
            try:
                listener(self, old, status, reason)
            except Exception:
                log.exception("%s: status listener failed", self.name)
        events.emit("stockfish_connector_status_changed", connector=self.name,
                     old_status=old, new_status=status, reason=reason)
        return True

    # ------------------------------------------------------------------ data path
    def push_update(self, update: MarketUpdate) -> None:
        """Count ``update`` and hand it to the router (hot path: no locks, logs or hooks)."""
        stats = self.stats
        stats.updates_normalized += 1
        stats.updates_by_type[update.data_type] += 1
        stats.last_update_ns = update.ts_recv
        router = self.router
        if router is not None:
            router.publish(update)

    def record_data_error(self, kind: str, detail: str | None = None) -> None:
        """Count a rejected input by kind. Never raises."""
        stats = self.stats
        stats.data_errors += 1
        by_kind = stats.data_errors_by_kind
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if by_kind[kind] == 1 or by_kind[kind] % 1000 == 0:
            log.warning("%s: rejected input (%s, %d so far)%s", self.name, kind,
                        by_kind[kind], f": {detail}" if detail else "")

    def record_heartbeat(self) -> None:
        self.stats.last_heartbeat_ns = now_ns()

    def record_sequence_gap(self, symbol: str, first_missing: int, last_missing: int) -> None:
        """Count a lost range and emit it once (log + ``stockfish_sequence_gap`` hook)."""
        lost = last_missing - first_missing + 1
        self.stats.sequence_gaps += 1
        self.stats.messages_lost += lost
        log.warning("%s: sequence gap on %s: %d..%d (%d lost)", self.name, symbol or "-",
                    first_missing, last_missing, lost)
        events.emit("stockfish_sequence_gap", connector=self.name, symbol=symbol,
                     first_missing=first_missing, last_missing=last_missing)

    def _start_watchdog(self) -> None:
        """Start the silence watchdog once (caller holds the lock)."""
        if not self.watchdog or (self._watchdog_thread is not None
                                 and self._watchdog_thread.is_alive()):
            return
        self._watchdog_thread = threading.Thread(target=self._watch, daemon=True,
                                                 name=f"{self.name}-watchdog")
        self._watchdog_thread.start()

    def heartbeat_period(self) -> float:
        """Seconds between the liveness signals expected from the venue (the
        ``heartbeat_interval`` setting; a protocol that rounds it on the wire says so)."""
        return float(getattr(self.settings, "heartbeat_interval", 30.0))

    def stale_after(self) -> float:
        """Seconds of silence after which a connected connector is stale: two heartbeat
        periods (a connector that probes a quiet venue itself may allow less)."""
        return 2 * self.heartbeat_period()

    def _watch(self) -> None:
        interval = self.heartbeat_period()
        # A tenth of an interval: a stall is reported at most 0.1 interval after the
        # connection turned stale.
        while not self._closing.wait(interval / 10):
            age = self.heartbeat_age()
            if self.is_stale():
                self.on_silence(age or 0.0)
            elif self.is_connected and age is not None and age > interval:
                self.on_quiet(age)

    def on_quiet(self, age: float) -> None:
        """The watchdog found no message for ``age`` seconds (over one heartbeat period,
        not yet stale). A connector with a protocol-level probe sends it here (FIX: a
        TestRequest) so that a live but idle venue answers before it is taken for dead."""

    def on_silence(self, age: float) -> None:
        """The watchdog found this connection silent for ``age`` seconds (over two
        heartbeat intervals). The default reports it lost (:meth:`handle_connection_error`).
        A connector whose protocol library still believes the link is up overrides this to
        cut it, so that the library's own disconnect path reports the loss."""
        self.handle_connection_error(f"no heartbeat or data for {age:.1f} s")

    def heartbeat_age(self) -> float | None:
        """Seconds since the last heartbeat or update, whichever is newer."""
        stamps = [t for t in (self.stats.last_heartbeat_ns, self.stats.last_update_ns) if t]
        return (now_ns() - max(stamps)) / 1e9 if stamps else None

    def is_stale(self) -> bool:
        """True when connected but silent for more than two heartbeat intervals."""
        age = self.heartbeat_age()
        return self.is_connected and age is not None and age > self.stale_after()

    def stale_symbols(self) -> dict[str, str]:
        """Subscribed symbols whose market data is stale now, each with why (``{}``: none,
        or the connector cannot tell). Health reports them and lowers the score by the
        share of subscribed symbols they are."""
        return {}

    # ------------------------------------------------------------------ subscriptions
    def record_subscription(self, data_type: DataType, symbol: str = "", **params: Any) -> None:
        with self._lock:
            self.subscriptions[(data_type, symbol)] = params

    def subscriptions_snapshot(self) -> dict[tuple[DataType, str], dict[str, Any]]:
        """A copy of the remembered subscriptions (``(data_type, symbol) -> params``), safe
        to iterate on any thread while others subscribe and unsubscribe."""
        with self._lock:
            return {key: dict(params) for key, params in self.subscriptions.items()}

    def forget_subscriptions(self, symbol: str) -> None:
        with self._lock:
            for key in [k for k in self.subscriptions if k[1] == symbol]:
                del self.subscriptions[key]

    def resubscribe(self) -> int:
        """Re-establish every remembered subscription; returns how many succeeded."""
        with self._lock:
            items = list(self.subscriptions.items())
        done = 0
        for (data_type, symbol), params in items:
            try:
                if self.resubscribe_one(data_type, symbol, params):
                    done += 1
            except Exception as exc:
                log.warning("%s: resubscribe %s %s failed: %s", self.name, data_type.value,
                            symbol, exc)
        log.info("%s: resubscribed %d/%d", self.name, done, len(items))
        return done

    # ------------------------------------------------------------------ errors, reconnect
    def handle_connection_error(self, error: BaseException | str) -> None:
        """Record a lost/failed connection: count it, flag open orders, and start
        reconnecting in the background when ``auto_reconnect`` is on."""
        text = str(error)
        self.stats.last_error = text
        with self._lock:
            self._drops += 1
        log.warning("%s: connection error: %s", self.name, text)
        self.mark_unknown_outcome()
        if self._closing.is_set():
            self._count_connection_error(text)
            return
        auto = getattr(self.settings, "auto_reconnect", True)
        self.set_status(ConnectorStatus.RECONNECTING if auto else ConnectorStatus.ERROR, text)
        # Counted once the status says so: whoever sees the count move sees the loss too
        # (not a CONNECTED left over from before it), and whoever sees the status sees
        # last_error.
        self._count_connection_error(text)
        if auto:
            self.start_reconnect()

    def connect_failed(self, reason: str) -> bool:
        """Record a ``connect()`` that did not get through: counted (``connection_errors``,
        the health score's recent errors), ``last_error`` set, logged, status ERROR.
        Returns False, for ``return self.connect_failed(...)``."""
        self.stats.last_error = reason
        log.warning("%s: %s", self.name, reason)
        self.set_status(ConnectorStatus.ERROR, reason)
        self._count_connection_error(reason)  # after the status, as for a lost connection
        return False

    def _count_connection_error(self, text: str) -> None:
        stats = self.stats
        stats.connection_errors += 1
        stats.error_times.append(time.monotonic())
        stats.last_error = text

    def start_reconnect(self) -> bool:
        """Run :meth:`reconnect` on a background thread unless one is already running
        (a running one notices new drops and goes round again)."""
        with self._lock:
            thread = self._reconnect_thread
            if thread is not None and thread.is_alive():
                return False
            thread = threading.Thread(target=self._reconnect_quietly,
                                      name=f"{self.name}-reconnect", daemon=True)
            self._reconnect_thread = thread
        thread.start()
        return True

    def _reconnect_quietly(self) -> None:
        try:
            self.reconnect()
        except Exception:  # never let a reconnect thread die with the link down unnoticed
            log.exception("%s: reconnect failed", self.name)
            if not self._closing.is_set():
                self.set_status(ConnectorStatus.ERROR, "reconnect failed")

    def reconnect(self, deadline: float | None = None) -> bool:
        """Reconnect with exponential backoff and jitter, then resubscribe and reconcile.

        Stops when connected, when :meth:`close` is called, when the backoff's attempts run
        out, or at ``deadline`` (a ``time.monotonic()`` value).
        """
        if not self._reconnect_lock.acquire(blocking=False):
            return False
        try:
            self.backoff.reset()
            self._give_up_reason = None
            self.set_status(ConnectorStatus.RECONNECTING)
            for delay in self.backoff.delays():
                if self._closing.is_set():
                    return False
                if self._give_up_reason is not None:
                    self.set_status(ConnectorStatus.ERROR, self._give_up_reason)
                    return False
                self.stats.reconnection_attempts += 1
                with self._lock:
                    drops = self._drops
                try:
                    ok = self.connect()
                except Exception as exc:  # a connect that raises is one failed attempt
                    ok = False
                    self._count_connection_error(str(exc))
                    log.info("%s: reconnect attempt %d failed: %s", self.name,
                             self.backoff.attempt, exc)
                if ok and self.is_connected:
                    self.stats.reconnections += 1
                    log.info("%s: reconnected after %d attempt(s)", self.name,
                             self.backoff.attempt)
                    try:
                        self.resubscribe()
                        self.reconcile_orders()
                    except Exception as exc:  # the link went again mid-way: go round
                        log.warning("%s: recovery after reconnect failed: %s", self.name, exc)
                    with self._lock:
                        dropped_again = self._drops != drops
                    if self.is_connected and not dropped_again:
                        return True
                    if self._closing.is_set():  # closed while recovering: stay closed
                        return False
                    log.info("%s: connection lost again while recovering; retrying",
                             self.name)
                if self._closing.is_set():
                    return False
                if self._give_up_reason is not None:
                    self.set_status(ConnectorStatus.ERROR, self._give_up_reason)
                    return False
                if self.status is not ConnectorStatus.RECONNECTING:
                    self.set_status(ConnectorStatus.RECONNECTING)
                if deadline is not None and time.monotonic() + delay > deadline:
                    break
                if self._closing.wait(delay):
                    return False
            self.set_status(ConnectorStatus.ERROR, "reconnect attempts exhausted")
            return False
        finally:
            self._reconnect_lock.release()

    def stop_reconnecting(self, reason: str) -> None:
        """Give up reconnecting after the attempt in progress: the venue refused for a
        reason retrying cannot cure (bad credentials, a locked account, sequence numbers out
        of step) and more attempts would only make it worse. The loop ends with status ERROR
        and ``reason``; the next connection error or a ``connect()`` call tries again."""
        self._give_up_reason = reason
        self.stats.last_error = reason

    def close(self, timeout: float = 5.0) -> None:
        """Stop reconnecting and disconnect; returns within about ``timeout`` seconds."""
        self._closing.set()
        try:
            self.disconnect()
        finally:
            reconnect = self._reconnect_thread
            for thread in (reconnect, self._watchdog_thread):
                if thread is not None and thread is not threading.current_thread():
                    thread.join(timeout)
        if self.status is not ConnectorStatus.DISCONNECTED and (
                reconnect is None or not reconnect.is_alive()):
            # A reconnect attempt already inside connect() when close() came left its
            # status (CONNECTING, ERROR) or even a session behind: close that too.
            self.disconnect()

    def reopen(self) -> None:
        """Allow reconnects again after :meth:`close` (used by ``connect`` callers)."""
        self._closing.clear()

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called (until :meth:`reopen`)."""
        return self._closing.is_set()

    def wait_closing(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for :meth:`close`; True if it came. For a
        connector's own background waits (a recheck, a pacing window) that must end at
        close."""
        return self._closing.wait(timeout)

    @property
    def reconnecting(self) -> bool:
        """True while the background reconnect loop runs."""
        thread = self._reconnect_thread
        return thread is not None and thread.is_alive()

    # ------------------------------------------------------------------ stats
    def recent_errors(self, window_s: float = 60.0) -> int:
        cutoff = time.monotonic() - window_s
        return sum(1 for t in self.stats.error_times if t > cutoff)

    def get_stats(self) -> dict[str, Any]:
        """Every statistic of this connector as plain JSON-able values."""
        s = self.stats
        now = now_ns()
        open_orders, unknown = self.order_counts()
        with self._lock:
            subs = len(self.subscriptions)
        latencies = list(s.order_latency_ns)
        return {
            "name": self.name,
            "type": self.connector_type,
            "status": self.status.value,
            "connected": self.is_connected,
            "data_only": self.data_only,
            "read_only": self.read_only,
            "connected_at": ns_to_datetime(s.connected_at).isoformat()
            if s.connected_at else None,
            "uptime_s": (now - s.connected_at) / 1e9 if s.connected_at else 0.0,
            "last_update_time": ns_to_datetime(s.last_update_ns).isoformat()
            if s.last_update_ns else None,
            "last_heartbeat_age_s": self.heartbeat_age(),
            "updates_received": s.updates_received,
            "updates_normalized": s.updates_normalized,
            "updates_by_type": {k.value: v for k, v in s.updates_by_type.items() if v},
            "data_errors": s.data_errors,
            "data_errors_by_kind": dict(s.data_errors_by_kind),
            "duplicates_dropped": s.duplicates_dropped,
            "sequence_gaps": s.sequence_gaps,
            "messages_lost": s.messages_lost,
            "connection_errors": s.connection_errors,
            "recent_errors": self.recent_errors(),
            "last_error": s.last_error,
            "reconnection_attempts": s.reconnection_attempts,
            "reconnections": s.reconnections,
            "orders_submitted": s.orders_submitted,
            "orders_filled": s.orders_filled,
            "orders_cancelled": s.orders_cancelled,
            "orders_rejected": s.orders_rejected,
            "order_errors": s.order_errors,
            "fills_applied": s.fills_applied,
            "orders_external": s.orders_external,
            "orders_recovered": s.orders_recovered,
            "fills_external": s.fills_external,
            "recovering": self.recovering,
            "duplicate_fills": s.duplicate_fills,
            "refused_transitions": s.refused_transitions,
            "open_orders": open_orders,
            "unknown_outcome_orders": unknown,
            "subscriptions": subs,
            "order_latency_ms_p50": percentile_ms(latencies, 0.5),
            "order_latency_ms_p99": percentile_ms(latencies, 0.99),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.status.value}>"
