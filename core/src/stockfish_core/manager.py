"""ExchangeManager: one thread-safe object that owns every connector, routes orders and
subscriptions, and keeps trading going when a venue drops.

Rules it keeps:
- An order belongs to the connector that accepted it; cancel and status go there. Failover
  never re-sends an order elsewhere: a venue that drops mid-order leaves the order flagged
  ``unknown_outcome`` until that connector reconnects and reconciles.
- Only connected, order-capable (not data-only, not read-only) connectors get new orders.
  With none, ``send_order`` fails at once and the order is REJECTED with the reason.
- The manager's lock is never held while calling into a connector, so any method may be
  called from any thread, including from a market-data callback.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from stockfish_core import events, lifecycle, plugins
from stockfish_core.arbitration import FeedArbitrator
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import (
    ConnectorError,
    DuplicateOrderIdError,
    OrderRejectedError,
    UnknownOrderError,
)
from stockfish_core.health import HealthMonitor, health_report, health_score
from stockfish_core.journal import MEMORY, OrderJournal, default_journal_path
from stockfish_core.models import DataType, OHLCVBar, now_ns
from stockfish_core.orders import Order, OrderEvent, OrderStatus
from stockfish_core.positions import Position
from stockfish_core.router import DataFeedRouter

__all__ = ["ExchangeManager", "FailoverDecision", "FailoverStrategy"]

log = logging.getLogger(__name__)


class FailoverStrategy(str, enum.Enum):
    """How the manager picks a connector for a new order."""

    ROUND_ROBIN = "round_robin"
    PRIMARY_BACKUP = "primary_backup"
    BEST_AVAILABLE = "best_available"


@attrs.frozen
class FailoverDecision:
    """Order routing (``kind="orders"``) or a symbol's feed (``kind="feed"``) moved."""

    kind: str
    from_connector: str | None
    to_connector: str | None
    reason: str
    symbol: str = ""
    ts: int = attrs.field(factory=now_ns)


_COUNTERS = (
    "updates_received", "updates_normalized", "data_errors", "duplicates_dropped",
    "sequence_gaps", "messages_lost", "connection_errors", "reconnection_attempts",
    "reconnections", "orders_submitted", "orders_filled", "orders_cancelled",
    "orders_rejected", "order_errors", "fills_applied", "duplicate_fills",
    "refused_transitions", "open_orders", "unknown_outcome_orders", "subscriptions",
)


def _as_list(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


class ExchangeManager:
    """Multi-connector orchestrator (the seed's API). See the module docstring."""

    def __init__(
        self,
        failover_strategy: FailoverStrategy | str = FailoverStrategy.BEST_AVAILABLE,
        *,
        router: DataFeedRouter | None = None,
        health_check_interval: float = 30.0,
        stop_timeout: float = 5.0,
        arbitration: Any = None,
        journal: OrderJournal | str | None = None,
        on_stop: str = "leave",
        cancel_timeout: float = 10.0,
    ) -> None:
        if on_stop not in ("leave", "cancel_open"):
            raise ValueError(f"on_stop must be 'leave' or 'cancel_open', got {on_stop!r}")
        self.on_stop = on_stop
        self.cancel_timeout = cancel_timeout
        self._owns_journal = isinstance(journal, str)
        #: The order journal every connector writes (None: orders do not survive the
        #: process). A path opens one (``":memory:"`` for tests).
        self.journal: OrderJournal | None = OrderJournal(journal) if isinstance(journal, str) \
            else journal
        self.orphaned_orders: dict[str, int] = {}
        self.failover_strategy = FailoverStrategy(failover_strategy)
        self.router = router or DataFeedRouter()
        self.health_check_interval = health_check_interval
        self.stop_timeout = stop_timeout
        self.connectors: dict[str, BaseConnector] = {}
        self.primary_connector: str | None = None
        self._order: list[str] = []
        # The one order index: client (or venue) order id -> owning connector's name. The
        # orders themselves live in their connector, under its retention cap; entries of
        # orders a connector forgot are dropped when the index is rebuilt.
        self._owner: dict[str, str] = {}
        self._order_listeners: list[Callable[[OrderEvent], None]] = []
        self._order_changed = threading.Condition(threading.Lock())
        self._lock = threading.RLock()
        self._rr = itertools.count()
        self._route_target: str | None = None
        self._lost: set[str] = set()
        self.failovers = 0
        self.reconnects = 0
        self.reconciliations = 0
        self.orders_refused = 0
        self.stop_timeouts: list[str] = []
        self.last_failover: FailoverDecision | None = None
        self.decisions: list[FailoverDecision] = []
        self._feed_preference: dict[str, list[str]] = dict(
            getattr(arbitration, "symbols", {}) or {})
        self._feed_order: list[str] = list(getattr(arbitration, "feeds", []) or [])
        self.arbitrator: FeedArbitrator | None = None
        if arbitration is not None and getattr(arbitration, "enabled", False):
            self.arbitrator = FeedArbitrator(
                self.router, float(arbitration.stale_after), self._preference,
                lambda: dict(self.connectors), self._on_feed_switch)
        self.monitor = HealthMonitor(self.list_connectors_objects, health_check_interval)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, source: str | os.PathLike[str] | Mapping[str, Any],
                    env: Mapping[str, str] | None = None) -> ExchangeManager:
        """Build every enabled connector of a configuration through the plugin registry."""
        from stockfish_core.config import load_config

        config = load_config(source, env=env)
        mcfg = config.manager
        journal = _open_journal(mcfg, config.source)
        manager = cls(mcfg.failover_strategy, health_check_interval=mcfg.health_check_interval,
                      stop_timeout=mcfg.stop_timeout, arbitration=mcfg.arbitration,
                      journal=journal, on_stop=mcfg.on_stop,
                      cancel_timeout=mcfg.cancel_timeout)
        manager._owns_journal = journal is not None
        try:
            for name, entry in config.connectors.items():
                connector = plugins.create_connector(entry.type, entry.settings, name=name,
                                                     router=manager.router)
                manager.add_connector(connector, name, primary=entry.primary,
                                      data_only=entry.data_only)
        except BaseException:
            if journal is not None:  # release the file: the caller gets no manager to close
                journal.close()
            raise
        return manager

    @property
    def arbitrated_router(self) -> DataFeedRouter:
        """One stream per symbol from the active feed (the plain router if arbitration is
        off)."""
        return self.arbitrator.output if self.arbitrator is not None else self.router

    # ------------------------------------------------------------------ connectors
    def add_connector(self, connector: BaseConnector, name: str | None = None,
                      primary: bool = False, data_only: bool = False) -> BaseConnector:
        """Own ``connector`` under ``name``; connectors without a router publish to ours."""
        name = name or connector.name
        with self._lock:
            if name in self.connectors:
                raise ValueError(f"a connector named {name!r} is already added")
            connector.name = name
            if connector.router is None:
                connector.router = self.router
            if self.journal is not None and connector.journal is None:
                connector.journal = self.journal
            if data_only:
                connector.data_only = True
            self.connectors[name] = connector
            self._order.append(name)
            if primary:
                self.primary_connector = name
        connector.add_status_listener(self._on_status)
        connector.add_order_listener(self._on_order_event)
        log.info("added connector %s (%s)%s%s", name, connector.connector_type,
                 " primary" if primary else "", " data-only" if connector.data_only else "")
        return connector

    def remove_connector(self, name: str) -> BaseConnector:
        """Stop and forget a connector (its orders stay queryable through it until then)."""
        with self._lock:
            connector = self.connectors.pop(name)
            self._order.remove(name)
            if self.primary_connector == name:
                self.primary_connector = None
        connector.remove_status_listener(self._on_status)
        connector.remove_order_listener(self._on_order_event)
        self._close_all([connector])
        return connector

    def get_connector(self, name: str) -> BaseConnector:
        try:
            return self.connectors[name]
        except KeyError:
            raise KeyError(f"no connector named {name!r} "
                           f"(have: {', '.join(self._order) or 'none'})") from None

    def list_connectors(self) -> list[str]:
        with self._lock:
            return list(self._order)

    def list_connectors_objects(self) -> list[BaseConnector]:
        with self._lock:
            return [self.connectors[n] for n in self._order]

    # ------------------------------------------------------------------ lifecycle
    def start_all(self, timeout: float | None = None) -> bool:
        """Connect every connector (in parallel, bounded); True when all connected. The
        health monitor and arbitration start too; connectors that failed keep retrying in
        the background when ``auto_reconnect`` is on."""
        connectors = self.list_connectors_objects()
        results: dict[str, bool] = {}
        # A library imported while the connectors were made may have reset Ctrl-C's handler.
        lifecycle.restore_sigint()
        self._restore_journaled_orders(connectors)

        def connect(c: BaseConnector) -> None:
            c.reopen()
            try:
                results[c.name] = bool(c.connect())
            except Exception as exc:
                log.error("%s: connect failed: %s", c.name, exc)
                results[c.name] = False
            if results[c.name] and c.recovering:
                try:  # the orders of the last run, before any new one
                    c.reconcile_orders()
                except Exception as exc:  # the link went again: the reconnect reconciles
                    log.warning("%s: reconciliation at start failed: %s", c.name, exc)
            if not results[c.name] and getattr(c.settings, "auto_reconnect", True):
                c.handle_connection_error(c.get_stats().get("last_error") or "connect failed")

        self._run_bounded(connect, connectors, timeout or max(self.stop_timeout, 10.0))
        self.monitor.start()
        if self.arbitrator is not None:
            self.arbitrator.start()
        ok = sum(results.values())
        log.info("ExchangeManager: %d/%d connectors started", ok, len(connectors))
        return ok == len(connectors)

    def _restore_journaled_orders(self, connectors: list[BaseConnector]) -> None:
        """Give each connector back the orders the journal holds open for it (they are
        reconciled with its venue before it takes a new order); report any the journal holds
        for a connector no longer configured, so that none is invisible."""
        journal = self.journal
        if journal is None:
            return
        names = {c.name for c in connectors}
        for connector in connectors:
            if not connector.recovering and not connector.orders:
                connector.restore_orders(journal.open_orders(connector.name))
        for name in journal.connectors():
            if name not in names:
                held = journal.open_orders(name)
                self.orphaned_orders[name] = len(held)
                log.error("the order journal holds %d open order(s) of connector %r, which "
                          "is not configured: %s. Add it back to reconcile them.", len(held),
                          name, ", ".join(o.client_order_id for o in held[:10]))

    def stop_all(self) -> list[str]:
        """Disconnect everything; returns within about ``stop_timeout`` seconds even if a
        venue hangs (plus ``cancel_timeout`` with ``on_stop: cancel_open``), and lists the
        connectors that did not stop in time. The journal is flushed."""
        self.monitor.stop(self.stop_timeout)
        if self.arbitrator is not None:
            self.arbitrator.stop(self.stop_timeout)
        if self.on_stop == "cancel_open":
            self.cancel_open_orders(self.cancel_timeout)
        hung = self._close_all(self.list_connectors_objects())
        self.stop_timeouts = hung
        if self.journal is not None:
            self.journal.flush(self.stop_timeout)
        return hung

    def cancel_open_orders(self, timeout: float) -> dict[str, list[str]]:
        """Cancel every open order this process sent (external orders are left alone) and
        wait up to ``timeout`` seconds for the venues to confirm. Returns ``{"cancelled":
        [...], "still_open": [...], "failed": [...]}`` (client order ids)."""
        asked: list[Order] = []
        failed: list[str] = []
        for order in self.open_orders():
            if order.external or order.is_terminal:
                continue
            try:
                if self.cancel_order(order.client_order_id):
                    asked.append(order)
            except Exception as exc:
                failed.append(order.client_order_id)
                log.warning("cancel of %s at stop failed: %s", order.client_order_id, exc)
        self.wait_orders(lambda: all(o.is_terminal for o in asked), timeout)
        still = [o.client_order_id for o in asked if not o.is_terminal]
        if still:
            log.error("on_stop cancel_open: %d order(s) not confirmed cancelled within "
                      "%.1f s: %s", len(still), timeout, ", ".join(still[:10]))
        return {"cancelled": [o.client_order_id for o in asked if o.is_terminal],
                "still_open": still, "failed": failed}

    def close(self) -> None:
        """``stop_all`` and close the order journal the manager opened."""
        self.stop_all()
        if self.journal is not None and self._owns_journal:
            self.journal.close()

    def _close_all(self, connectors: list[BaseConnector]) -> list[str]:
        def close(c: BaseConnector) -> None:
            c.close(timeout=self.stop_timeout)

        hung = self._run_bounded(close, connectors, self.stop_timeout)
        for name in hung:
            log.error("%s did not stop within %.1f s", name, self.stop_timeout)
        return hung

    @staticmethod
    def _run_bounded(fn: Any, connectors: list[BaseConnector], timeout: float) -> list[str]:
        threads = []
        for connector in connectors:
            thread = threading.Thread(target=fn, args=(connector,), daemon=True,
                                      name=f"manager-{connector.name}")
            thread.start()
            threads.append((connector.name, thread))
        deadline = time.monotonic() + timeout
        for _, thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        return [name for name, thread in threads if thread.is_alive()]

    def __enter__(self) -> ExchangeManager:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ subscriptions
    def _targets(self, connectors: str | Iterable[str] | None,
                 data_type: DataType) -> list[BaseConnector]:
        names = _as_list(connectors)
        if names is not None:
            return [self.get_connector(n) for n in names]
        return [c for c in self.list_connectors_objects()
                if data_type in c.capabilities.data_types]

    def _subscribe(self, kind: DataType, symbols: str | Iterable[str],
                   connectors: str | Iterable[str] | None, **params: Any) -> dict[str, Any]:
        results: dict[str, dict[str, Any]] = {}
        for connector in self._targets(connectors, kind):
            outcome: dict[str, Any] = {}
            for symbol in _as_list(symbols) or []:
                try:
                    if kind is DataType.PRICE_TICK:
                        ok = connector.subscribe_price(symbol)
                    else:
                        ok = connector.subscribe_orderbook(symbol, params["depth"])
                    outcome[symbol] = ok is not False
                except Exception as exc:  # one venue refusing never stops the others
                    outcome[symbol] = f"{type(exc).__name__}: {exc}"
                    log.warning("%s: subscribe %s %s failed: %s", connector.name,
                                kind.value, symbol, exc)
            results[connector.name] = outcome
        return results

    def subscribe_price(self, symbols: str | Iterable[str],
                        connectors: str | Iterable[str] | None = None) -> dict[str, Any]:
        """Subscribe level-1 data on the named (default: every capable) connectors.
        Returns ``{connector: {symbol: True | False | error text}}``."""
        return self._subscribe(DataType.PRICE_TICK, symbols, connectors)

    def subscribe_orderbook(self, symbols: str | Iterable[str], depth: int = 10,
                            connectors: str | Iterable[str] | None = None) -> dict[str, Any]:
        return self._subscribe(DataType.ORDERBOOK_SNAPSHOT, symbols, connectors, depth=depth)

    def unsubscribe(self, symbols: str | Iterable[str],
                    connectors: str | Iterable[str] | None = None) -> None:
        names = _as_list(connectors)
        targets = [self.get_connector(n) for n in names] if names is not None \
            else self.list_connectors_objects()
        for connector in targets:
            for symbol in _as_list(symbols) or []:
                try:
                    connector.unsubscribe(symbol)
                except Exception as exc:
                    log.warning("%s: unsubscribe %s failed: %s", connector.name, symbol, exc)

    # ------------------------------------------------------------------ orders
    def eligible_connectors(self, order: Order | None = None) -> list[BaseConnector]:
        """Connectors that would take ``order`` now (connected, order-capable, its type and
        time in force supported): each connector's own :meth:`~BaseConnector.order_refusal`,
        so the manager and the connector never disagree. Pre-trade limits are left to the
        chosen connector, which refuses with the reason."""
        out = []
        for c in self.list_connectors_objects():
            if order is None:
                if c.is_connected and not (c.data_only or c.read_only
                                           or c.capabilities.data_only):
                    out.append(c)
            elif c.order_refusal(order, check_limits=False) is None:
                out.append(c)
        return out

    def choose_connector(self, order: Order | None = None) -> BaseConnector | None:
        """The connector the strategy picks for a new order, or None."""
        eligible = self.eligible_connectors(order)
        if not eligible:
            return None
        strategy = self.failover_strategy
        if strategy is FailoverStrategy.ROUND_ROBIN:
            return eligible[next(self._rr) % len(eligible)]
        if strategy is FailoverStrategy.PRIMARY_BACKUP:
            primary = next((c for c in eligible if c.name == self.primary_connector), None)
            return primary or eligible[0]
        return max(eligible, key=lambda c: (health_score(c, c.name == self.primary_connector),
                                            -self._order.index(c.name)))

    def send_order(self, order: Order, connector_name: str | None = None) -> str:
        """Send ``order`` through ``connector_name`` or the strategy's choice; returns its
        client order id. Sending the same order object again returns the id without
        resending; a different order with a client order id already in use is refused
        (:class:`DuplicateOrderIdError`)."""
        cid = order.client_order_id
        with self._lock:
            owner = self._owner.get(cid)
        if owner is not None:
            held = self.connectors.get(owner)
            known = held.orders.get(cid) if held is not None else None
            if known is order:
                return cid
            if known is not None:
                raise DuplicateOrderIdError(
                    f"client order id {cid!r} is already used by another order on {owner} "
                    f"({known.status.value}); nothing was sent", order)
        if connector_name is not None:
            connector: BaseConnector | None = self.get_connector(connector_name)
        else:
            connector = self.choose_connector(order)
        if connector is None:
            reason = self._no_connector_reason(order)
            order.apply_status(OrderStatus.REJECTED, reason)
            self.orders_refused += 1
            log.warning("order %s refused: %s", cid, reason)
            raise OrderRejectedError(reason, order)
        if connector_name is None:
            self._note_route(connector.name)
        return connector.send_order(order)

    def _no_connector_reason(self, order: Order) -> str:
        def state(c: BaseConnector) -> str:
            return "data-only" if c.data_only else "read-only" if c.read_only \
                else c.status.value

        states = ", ".join(f"{c.name}: {state(c)}"
                           for c in self.list_connectors_objects()) or "no connectors"
        return f"no connected order-capable connector for {order.order_type.value} " \
               f"{order.time_in_force.value} orders ({states})"

    def _note_route(self, name: str) -> None:
        with self._lock:
            previous, self._route_target = self._route_target, name
        if previous is None or previous == name or \
                self.failover_strategy is FailoverStrategy.ROUND_ROBIN:
            return
        old = self.connectors.get(previous)
        if old is None or not old.is_connected:
            status = old.status.value if old else "removed"
            self._decide(FailoverDecision("orders", previous, name, f"{previous} is {status}"))
        elif name == self.primary_connector:
            self._decide(FailoverDecision("orders", previous, name,
                                          f"primary connector {name} is back"))

    def _connector_for(self, order_id: str) -> BaseConnector:
        with self._lock:
            name = self._owner.get(order_id)
        if name is not None:
            connector = self.connectors.get(name)
            if connector is not None:
                try:
                    connector.find_order(order_id)
                    return connector
                except UnknownOrderError:
                    pass
            with self._lock:  # forgotten by its connector, or the connector was removed
                self._owner.pop(order_id, None)
        for connector in self.list_connectors_objects():
            try:
                connector.find_order(order_id)
            except UnknownOrderError:
                continue
            self._index(order_id, connector.name)
            return connector
        raise UnknownOrderError(f"unknown order id {order_id!r}")

    def _journaled(self, order_id: str) -> Order | None:
        """An order of an earlier run that ended there (terminal, so not reloaded), from the
        journal: its id keeps answering."""
        journal = self.journal
        return journal.find(order_id) if journal is not None else None

    def _index(self, order_id: str, name: str) -> None:
        with self._lock:
            self._owner[order_id] = name
            limit = 2 * sum(c.max_terminal_orders for c in self.connectors.values())
            if len(self._owner) > max(limit, 1024):
                self._rebuild_index()

    def _rebuild_index(self) -> None:
        """Keep only ids the connectors still hold (caller holds the lock)."""
        fresh: dict[str, str] = {}
        for name, connector in self.connectors.items():
            for order in connector.tracked_orders():
                fresh[order.client_order_id] = name
                if order.order_id:
                    fresh[order.order_id] = name
        self._owner = fresh

    def cancel_order(self, order_id: str) -> bool:
        """Cancel through the connector that owns the order (``False`` for an order that is
        already terminal, one of an earlier run included)."""
        try:
            connector = self._connector_for(order_id)
        except UnknownOrderError:
            old = self._journaled(order_id)
            if old is not None and old.is_terminal:
                return False
            raise
        return connector.cancel_order(order_id)

    def replace_order(self, order_id: str, *, quantity: float | None = None,
                      price: float | None = None) -> bool:
        """Amend an open order through the connector that owns it (where it can)."""
        return self._connector_for(order_id).replace_order(order_id, quantity=quantity,
                                                            price=price)

    def get_order_status(self, order_id: str) -> OrderStatus:
        """The status of an order by client or venue id; orders of earlier runs answer from
        the journal."""
        return self.get_order(order_id).status

    def get_order(self, order_id: str) -> Order:
        """The order with this client or venue id: the live object its connector holds, or
        (an order that ended in an earlier run) a copy from the journal."""
        try:
            return self._connector_for(order_id).find_order(order_id)
        except UnknownOrderError:
            old = self._journaled(order_id)
            if old is None:
                raise
            return old

    def orders(self) -> list[Order]:
        """Every order the connectors hold (open, unknown-outcome and recent terminal
        ones), oldest first."""
        found: list[Order] = []
        for connector in self.list_connectors_objects():
            found.extend(connector.tracked_orders())
        found.sort(key=lambda o: o.created_ns)
        return found

    def open_orders(self) -> list[Order]:
        """Orders not yet terminal, or of unknown outcome, across the connectors."""
        return [o for o in self.orders() if o.is_open or o.unknown_outcome]

    def add_order_listener(self, callback: Callable[[OrderEvent], None]) -> None:
        """``callback(event)`` on every order event of every connector (called on the thread
        that caused it: keep it short)."""
        self._order_listeners.append(callback)

    def wait_orders(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds, re-checked at every order event; False if it
        still does not after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._order_changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._order_changed.wait(left)
        return True

    def remove_order_listener(self, callback: Callable[[OrderEvent], None]) -> None:
        if callback in self._order_listeners:
            self._order_listeners.remove(callback)

    # ------------------------------------------------------------------ account
    def get_positions(self, connectors: str | Iterable[str] | None = None) -> list[Position]:
        """Positions across the connectors (each says whether its venue reported them or
        they were derived from fills: ``Position.source``). A connector that fails to
        answer is logged and left out."""
        out: list[Position] = []
        for connector in self._targets_named(connectors):
            try:
                out.extend(connector.get_positions())
            except Exception as exc:
                log.warning("%s: positions unavailable: %s", connector.name, exc)
        return out

    def get_account(self, connectors: str | Iterable[str] | None = None
                    ) -> dict[str, dict[str, Any]]:
        """Account values by connector, for the connectors whose venue reports them."""
        out: dict[str, dict[str, Any]] = {}
        for connector in self._targets_named(connectors):
            if connectors is None and not connector.capabilities.account:
                continue
            out[connector.name] = connector.get_account()
        return out

    def get_historical_bars(self, symbol: str, connector: str | None = None,
                            **options: Any) -> list[OHLCVBar]:
        """Historical bars from ``connector`` or the first connected one that serves
        history (``duration``, ``bar_size`` and the connector's own options)."""
        if connector is not None:
            return self.get_connector(connector).get_historical_bars(symbol, **options)
        for candidate in self.list_connectors_objects():
            if candidate.capabilities.history and candidate.is_connected:
                return candidate.get_historical_bars(symbol, **options)
        raise ConnectorError("no connected connector serves historical data")

    def _targets_named(self, names: str | Iterable[str] | None) -> list[BaseConnector]:
        chosen = _as_list(names)
        return [self.get_connector(n) for n in chosen] if chosen is not None \
            else self.list_connectors_objects()

    # ------------------------------------------------------------------ events
    def _on_status(self, connector: BaseConnector, old: ConnectorStatus,
                   new: ConnectorStatus, reason: str | None) -> None:
        if connector.closing:  # stopped on purpose: not a failure to fail over from
            return
        if old is ConnectorStatus.CONNECTED and new is not ConnectorStatus.CONNECTED:
            with self._lock:
                was_route = self._route_target == connector.name or (
                    self._route_target is None and connector.name == self.primary_connector)
            if was_route and not connector.data_only:
                target = self.choose_connector()
                self._decide(FailoverDecision(
                    "orders", connector.name, target.name if target else None,
                    f"{connector.name} {new.value.lower()}: {reason or 'connection lost'}"))
                with self._lock:
                    self._route_target = target.name if target else None
            if self.arbitrator is not None:
                self.arbitrator.check()
            with self._lock:
                self._lost.add(connector.name)
        elif new is ConnectorStatus.CONNECTED:
            with self._lock:
                recovered = connector.name in self._lost
                self._lost.discard(connector.name)
            if recovered:
                self.reconnects += 1
                log.info("%s reconnected", connector.name)

    def _on_order_event(self, event: OrderEvent) -> None:
        if event.kind == "submitted":
            self._index(event.client_order_id, event.connector)
        elif event.kind == "reconciled":
            self.reconciliations += 1
        with self._order_changed:
            self._order_changed.notify_all()
        for listener in list(self._order_listeners):
            try:
                listener(event)
            except Exception:
                log.exception("order listener %r failed", listener)

    def _on_feed_switch(self, symbol: str, old: str | None, new: str | None,
                        reason: str) -> None:
        self._decide(FailoverDecision("feed", old, new, reason, symbol=symbol))

    def _decide(self, decision: FailoverDecision) -> None:
        with self._lock:
            self.failovers += 1
            self.last_failover = decision
            self.decisions.append(decision)
            del self.decisions[:-100]
        log.warning("failover (%s%s): %s -> %s: %s", decision.kind,
                    f" {decision.symbol}" if decision.symbol else "",
                    decision.from_connector, decision.to_connector, decision.reason)
        events.emit("stockfish_failover", decision=decision)

    def _preference(self, symbol: str) -> list[str]:
        explicit = self._feed_preference.get(symbol) or self._feed_order
        names = self.list_connectors_objects()
        ordered = [n for n in explicit if n in self.connectors]
        if not ordered:
            primary = self.primary_connector
            ordered = ([primary] if primary else []) + [c.name for c in names
                                                        if c.name != primary]
        return ordered

    # ------------------------------------------------------------------ health and stats
    def get_health_status(self) -> dict[str, dict[str, Any]]:
        return {c.name: health_report(c, c.name == self.primary_connector)
                for c in self.list_connectors_objects()}

    def get_stats(self) -> dict[str, Any]:
        """Each connector's stats by name, a ``total`` entry summing the counters across
        connectors, and a ``manager`` entry (failovers, reconnects, routing, arbitration)."""
        out: dict[str, Any] = {}
        total: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
        total["connectors"] = 0
        total["connected"] = 0
        by_type: dict[str, int] = {}
        for connector in self.list_connectors_objects():
            stats = connector.get_stats()
            out[connector.name] = stats
            total["connectors"] += 1
            total["connected"] += int(stats["connected"])
            for key in _COUNTERS:
                total[key] += stats.get(key) or 0
            for key, value in stats["updates_by_type"].items():
                by_type[key] = by_type.get(key, 0) + value
        total["updates_by_type"] = by_type
        out["total"] = total
        last = self.last_failover
        out["manager"] = {
            "failover_strategy": self.failover_strategy.value,
            "primary": self.primary_connector,
            "order_route": self._route_target,
            "failovers": self.failovers,
            "reconnects": self.reconnects,
            "reconciliations": self.reconciliations,
            "orders_tracked": sum(len(c.orders) for c in self.list_connectors_objects()),
            "orders_refused": self.orders_refused,
            "health_checks": self.monitor.checks,
            "silent_detected": self.monitor.silent_detected,
            "last_failover": attrs.asdict(last) if last else None,
            "router": self.router.get_stats(),
            "arbitration": self.arbitrator.get_stats() if self.arbitrator else None,
            "journal": self.journal.stats() if self.journal else None,
            "orphaned_orders": dict(self.orphaned_orders),
            "on_stop": self.on_stop,
        }
        return out


def _open_journal(mcfg: Any, source: str | None) -> OrderJournal | None:
    """The journal a configuration asks for (``manager.journal``)."""
    setting = mcfg.journal
    if setting == "off" or (setting == "auto" and source is None):
        if setting == "auto":
            log.warning("no order journal (a configuration given as a mapping sets "
                        "manager.journal to have one): orders do not survive this process")
        return None
    if setting == "memory":
        path = MEMORY
    elif setting == "auto":
        stem = os.path.splitext(os.path.basename(source or "config"))[0]
        digest = hashlib.sha256((source or "").encode()).hexdigest()[:12]
        path = default_journal_path(f"{stem}-{digest}")
    else:
        path = os.path.expanduser(setting)
    return OrderJournal(path, sync=mcfg.journal_sync,
                        retention=mcfg.journal_retention_days * 86400.0)
