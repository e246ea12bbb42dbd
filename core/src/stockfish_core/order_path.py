"""The order path of every connector, owned by the core.

:class:`OrderPath` is the part of :class:`~stockfish_core.connector.BaseConnector` that
handles orders. The public methods the seed lists (``send_order``, ``cancel_order``,
``get_order_status``) and ``replace_order`` are template methods here: validation,
ownership, the state machine, the journal, events and retention happen once, in this
module, and call the plugin's small protocol methods:

- ``submit_order(order)``: put one order on the wire. Raise :class:`OrderNotSentError`
  (or :class:`NotConnectedError`) when it certainly never reached the venue; any other
  exception means it may have (the order is flagged unknown outcome, never re-sent).
- ``submit_cancel(order) -> bool`` and ``submit_replace(order, quantity, price) -> bool``.
- ``request_order_states(orders, timeout) -> set[str]``: ask the venue for the truth.

Venue reports come back through the public helpers :meth:`apply_order_status`,
:meth:`apply_execution`, :meth:`apply_replace`, :meth:`reject_cancel`,
:meth:`mark_order_unknown`, :meth:`bind_venue_order_id` and :meth:`order_event`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from stockfish_core import events
from stockfish_core.connector_stats import ConnectorStats, ReconcileReport
from stockfish_core.errors import (
    DuplicateOrderIdError,
    NotConnectedError,
    OrderNotSentError,
    OrderRejectedError,
    UnknownOrderError,
)
from stockfish_core.models import now_ns
from stockfish_core.orders import Fill, Order, OrderEvent, OrderStatus, Transition, forget_terminal

if TYPE_CHECKING:
    from stockfish_core.capabilities import Capabilities
    from stockfish_core.enums import ConnectorStatus
    from stockfish_core.journal import OrderJournal

__all__ = ["OrderPath"]

log = logging.getLogger(__name__)

_QTY_EPS = 1e-9


class OrderPath:
    """Orders of one connector: tracking, the template methods and the helpers plugins
    call. Mixed into :class:`~stockfish_core.connector.BaseConnector`."""

    #: Terminal orders kept for lookups; beyond this the oldest terminal ones are forgotten
    #: so that a process running for weeks does not grow without bound.
    max_terminal_orders: ClassVar[int] = 50_000

    # Provided by BaseConnector.
    name: str
    settings: Any
    stats: ConnectorStats
    capabilities: ClassVar[Capabilities]
    data_only: bool
    read_only: bool
    _lock: threading.RLock

    if TYPE_CHECKING:  # provided by BaseConnector
        status: ConnectorStatus

        @property
        def is_connected(self) -> bool: ...

        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...

    def _init_orders(self) -> None:
        self.orders: dict[str, Order] = {}
        self.journal: OrderJournal | None = None
        self._venue_ids: dict[str, str] = {}
        self._order_listeners: list[Callable[[OrderEvent], None]] = []
        self._order_times: deque[float] = deque(maxlen=1000)
        self._sent_ns: dict[str, int] = {}
        self._state: dict[str, str] = {}  # save_state values when there is no journal
        # Orders restored from the journal wait for a reconciliation with the venue; until
        # it ran, the connector takes no new order.
        self._recovery_pending = False

    # ================================================================ protocol (plugins)
    def submit_order(self, order: Order) -> None:
        """Put ``order`` on the wire (the plugin's part of :meth:`send_order`).

        Called once per order, after the core validated, tracked and journaled it. Raise
        :class:`OrderNotSentError` or :class:`NotConnectedError` when the venue certainly
        never received it; any other exception means it may have. The default refuses:
        a connector that takes orders overrides it.
        """
        raise OrderNotSentError(f"{self.name} does not take orders", order)

    def submit_cancel(self, order: Order) -> bool:
        """Send a cancel request for the open ``order``; ``True`` if it went out. The
        outcome comes back through :meth:`apply_order_status` or :meth:`reject_cancel`."""
        raise OrderRejectedError(f"{self.name} does not cancel orders", order)

    def submit_replace(self, order: Order, quantity: float | None,
                       price: float | None) -> bool:
        """Send a replace request (connectors with ``supports_replace``); the venue's answer
        comes back through :meth:`apply_replace` or :meth:`reject_cancel`."""
        raise OrderRejectedError(f"{self.name}: order replace is not supported", order)

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """Ask the venue for the true state of ``orders`` (open orders and executions since
        the drop), feeding answers through :meth:`apply_order_status` /
        :meth:`apply_execution` before returning. Return the client order ids the venue
        answered for.

        The default asks nothing: a connector that cannot query its venue leaves those
        orders flagged ``unknown_outcome``.
        """
        return set()

    # ================================================================ the template methods
    def send_order(self, order: Order) -> str:
        """Validate ``order``, take ownership of it, journal it, then submit it; return its
        client order id. Sending the same order object again returns the id without
        sending anything.

        An exception means nothing is working anywhere: :class:`OrderRejectedError` (the
        order REJECTED with the reason) when it cannot go out, :class:`NotConnectedError`
        when the connector is down, :class:`DuplicateOrderIdError` when another order holds
        its client order id. A submission that failed midway (the link broke while the
        request was out) returns normally: the order is ours and may be working, flagged
        ``unknown_outcome`` (an event says why) until reconciliation with the venue settles
        it; it is never re-sent. Retrying it as a new order could trade twice.
        """
        if not self._take_order(order):
            return order.client_order_id
        cid = order.client_order_id
        try:
            self.submit_order(order)
        except (OrderNotSentError, NotConnectedError) as exc:
            self.apply_order_status(cid, OrderStatus.REJECTED, reason=f"not sent: {exc}")
            if isinstance(exc, NotConnectedError):
                raise
            raise OrderRejectedError(f"{self.name}: {exc}", order) from exc
        except Exception as exc:  # it may have reached the venue: settle, never resend
            log.warning("%s: order %s may or may not have reached the venue: %s", self.name,
                        cid, exc)
            self.mark_order_unknown(order, f"submission failed midway: {exc}")
        return cid

    def cancel_order(self, order_id: str) -> bool:
        """Request cancellation of an order this connector owns (client or venue id);
        ``False`` when it is already terminal. The cancellation itself comes back as a
        status (CANCELLED) or a ``cancel_rejected`` event."""
        order = self.find_order(order_id)
        if order.is_terminal:
            return False
        if not self.is_connected:
            raise NotConnectedError(f"{self.name}: not connected: cancel of "
                                    f"{order.client_order_id} not sent")
        return bool(self.submit_cancel(order))

    def replace_order(self, order_id: str, *, quantity: float | None = None,
                      price: float | None = None) -> bool:
        """Amend an open order's quantity and/or limit price (connectors that declare
        ``supports_replace``); ``True`` if the request went out, ``False`` when the order
        is already terminal. The order changes once the venue confirms (a ``replaced``
        event)."""
        order = self.find_order(order_id)
        if not self.capabilities.supports_replace:
            raise OrderRejectedError(f"{self.name}: order replace is not supported", order)
        if order.is_terminal:
            return False
        if quantity is None and price is None:
            raise OrderRejectedError("replace needs a new quantity or price", order)
        if quantity is not None and (isinstance(quantity, bool) or not math.isfinite(quantity)
                                     or quantity <= order.filled_quantity):
            raise OrderRejectedError(f"replace quantity {quantity!r} must be above the filled "
                                     f"{order.filled_quantity:g}", order)
        if price is not None and (isinstance(price, bool) or not math.isfinite(price)
                                  or price <= 0):
            raise OrderRejectedError(f"replace price must be > 0, got {price!r}", order)
        if not self.is_connected:
            raise NotConnectedError(f"{self.name}: not connected: replace of "
                                    f"{order.client_order_id} not sent")
        return bool(self.submit_replace(order, quantity, price))

    def get_order_status(self, order_id: str) -> OrderStatus:
        """Current status of an order this connector owns (client or venue id)."""
        return self.find_order(order_id).status

    # ================================================================ eligibility
    def order_refusal(self, order: Order, *, check_limits: bool = True) -> str | None:
        """Why this connector would refuse ``order`` now, or ``None`` if it takes it: data-only
        or read-only, order type or time in force not supported, not connected, and (with
        ``check_limits``) the pre-trade limits. The manager picks connectors with this."""
        caps = self.capabilities
        if self.data_only or caps.data_only:
            return f"{self.name} is data-only and takes no orders"
        if self.read_only:
            return f"{self.name} is read-only: orders are disabled"
        if order.order_type not in caps.order_types:
            return f"{self.name} does not support {order.order_type.value} orders"
        if order.time_in_force not in caps.time_in_force:
            return f"{self.name} does not support time in force {order.time_in_force.value}"
        if not self.is_connected:
            return f"{self.name} is not connected"
        if self._recovery_pending:
            return (f"{self.name} is recovering: the orders of the last run are being "
                    f"reconciled with the venue")
        return self._limit_refusal(order) if check_limits else None

    def _limit_refusal(self, order: Order) -> str | None:
        settings = self.settings
        max_qty = float(getattr(settings, "max_order_quantity", 0.0))
        if max_qty and order.quantity > max_qty:
            return f"quantity {order.quantity:g} exceeds max_order_quantity {max_qty:g}"
        max_notional = float(getattr(settings, "max_notional", 0.0))
        notional = order.notional
        if max_notional and notional is not None and notional > max_notional:
            return f"notional {notional:g} exceeds max_notional {max_notional:g}"
        max_rate = float(getattr(settings, "max_orders_per_second", 0.0))
        if max_rate:
            cutoff = time.monotonic() - 1.0
            recent = sum(1 for t in self._order_times if t > cutoff)
            if recent + 1 > max_rate:
                return f"rate limit: more than {max_rate:g} orders per second"
        return None

    def _take_order(self, order: Order) -> bool:
        """Validate and track ``order``, and journal its intent (synced) before anything
        reaches the wire. ``False``: this very order is here already. Raises when refused."""
        cid = order.client_order_id
        with self._lock:
            known = self.orders.get(cid)
            if known is order:
                return False
            if known is not None:
                raise DuplicateOrderIdError(
                    f"{self.name}: client order id {cid!r} is already used by another order "
                    f"({known.symbol} {known.side.value} {known.quantity:g}, "
                    f"{known.status.value}); nothing was sent", order)
            if order.connector is not None or order.status is not OrderStatus.PENDING:
                raise OrderRejectedError(
                    f"{self.name}: order {cid} already belongs to "
                    f"{order.connector or 'another connector'} ({order.status.value})", order)
            reason = self.order_refusal(order)
            if reason is None:
                order.connector = self.name
                self.orders[cid] = order  # reserves the id against a concurrent send
        if reason is not None:
            self._refuse(order, reason)
        journal = self.journal
        if journal is not None:
            try:
                journal.record_intent(order)
            except Exception as exc:  # not journaled: it must not reach the wire
                with self._lock:
                    self.orders.pop(cid, None)
                order.connector = None
                self._refuse(order, f"the order journal refused the order: {exc}")
        with self._lock:
            if len(self.orders) > self.max_terminal_orders:
                self._forget_old_orders()
            self.stats.orders_submitted += 1
            self._order_times.append(time.monotonic())
            self._sent_ns[cid] = now_ns()
        self._emit(OrderEvent("submitted", self.name, cid, order.status))
        return True

    def _refuse(self, order: Order, reason: str) -> None:
        """Refuse an order that never became ours: REJECTED on the caller's object, counted,
        an event, and raised."""
        order.apply_status(OrderStatus.REJECTED, reason)
        self.stats.orders_rejected += 1
        log.warning("%s: rejected order %s before the wire: %s", self.name,
                    order.client_order_id, reason)
        self._emit(OrderEvent("rejected", self.name, order.client_order_id, order.status,
                              reason=reason))
        if reason.endswith("is not connected"):
            raise NotConnectedError(f"{reason} ({self.status.value})")
        raise OrderRejectedError(reason, order)

    def _forget_old_orders(self) -> None:
        """Bound memory: forget the oldest terminal orders (caller holds the lock)."""
        for order in forget_terminal(self.orders, self.max_terminal_orders):
            self._sent_ns.pop(order.client_order_id, None)
            if order.order_id:
                self._venue_ids.pop(order.order_id, None)

    # ================================================================ lookups
    def find_order(self, order_id: str) -> Order:
        """An order this connector owns, by client order id or venue order id."""
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                client_id = self._venue_ids.get(order_id)
                order = self.orders.get(client_id) if client_id else None
        if order is None:
            raise UnknownOrderError(f"{self.name}: unknown order id {order_id!r}")
        return order

    def tracked_orders(self) -> list[Order]:
        """Every order this connector holds (open, unknown-outcome, recent terminal ones)."""
        with self._lock:
            return list(self.orders.values())

    def open_orders(self) -> list[Order]:
        with self._lock:
            return [o for o in self.orders.values() if o.is_open]

    def add_order_listener(self, callback: Callable[[OrderEvent], None]) -> None:
        """``callback(event)`` on every order event of this connector (on the thread that
        caused it)."""
        self._order_listeners.append(callback)

    def remove_order_listener(self, callback: Callable[[OrderEvent], None]) -> None:
        if callback in self._order_listeners:
            self._order_listeners.remove(callback)

    # ================================================================ venue reports (helpers)
    def bind_venue_order_id(self, client_order_id: str, venue_order_id: str) -> None:
        """Record the venue's id of an order so that it resolves to the order too."""
        with self._lock:
            order = self.orders.get(client_order_id)
            if order is None or order.order_id == venue_order_id:
                return
            order.order_id = venue_order_id
            self._venue_ids[venue_order_id] = client_order_id
        journal = self.journal
        if journal is not None:
            journal.record_venue_id(order)

    def apply_order_status(
        self, client_order_id: str, status: OrderStatus, *, venue_order_id: str | None = None,
        reason: str | None = None, cum_qty: float | None = None,
    ) -> Transition:
        """Apply a venue status report through the state machine (unknown ids are counted as
        data errors). ``cum_qty``, the venue's cumulative filled quantity when the report
        carries it, tells whether a terminal order's fills are all here: only then is an
        unknown outcome settled by this report."""
        order = self.orders.get(client_order_id)
        if order is None:
            self.record_data_error("unknown_order", client_order_id)
            return Transition.ILLEGAL
        if venue_order_id:
            self.bind_venue_order_id(client_order_id, venue_order_id)
        result = order.apply_status(status, reason)
        if result is Transition.APPLIED:
            self._count_status(status)
            if status is OrderStatus.SUBMITTED:
                self._record_latency(client_order_id)
            self._settle_if_known(order, cum_qty)
            self._emit(OrderEvent("status", self.name, client_order_id, status, reason=reason))
        elif result is Transition.UNCHANGED:
            self._settle_if_known(order, cum_qty)
        else:
            self.stats.refused_transitions += 1
        return result

    def apply_execution(self, client_order_id: str, fill: Fill) -> Transition:
        """Apply a fill exactly once (execution ids de-duplicate)."""
        order = self.orders.get(client_order_id)
        if order is None:
            self.record_data_error("unknown_order", client_order_id)
            return Transition.ILLEGAL
        if fill.venue_order_id:
            self.bind_venue_order_id(client_order_id, fill.venue_order_id)
        result = order.apply_fill(fill)
        if result is Transition.APPLIED:
            self.stats.fills_applied += 1
            self._record_latency(client_order_id)
            if order.status is OrderStatus.FILLED:
                self.stats.orders_filled += 1
                self._settle_if_known(order, None)
            if order.external:
                self.stats.fills_external += 1
            self._emit(OrderEvent("external_fill" if order.external else "fill", self.name,
                                  client_order_id, order.status, fill=fill))
        elif result is Transition.DUPLICATE_FILL:
            self.stats.duplicate_fills += 1
        else:
            self.stats.refused_transitions += 1
        return result

    def apply_replace(self, client_order_id: str, *, quantity: float | None = None,
                      price: float | None = None, stop_price: float | None = None) -> Transition:
        """Apply a venue-confirmed replace to an open order and emit ``replaced``."""
        order = self.orders.get(client_order_id)
        if order is None:
            self.record_data_error("unknown_order", client_order_id)
            return Transition.ILLEGAL
        result = order.amend(quantity=quantity, price=price, stop_price=stop_price)
        if result is Transition.APPLIED:
            self._emit(OrderEvent("replaced", self.name, client_order_id, order.status))
        else:
            self.stats.refused_transitions += 1
        return result

    def reject_cancel(self, client_order_id: str, reason: str) -> None:
        """The venue refused a cancel or replace request: a ``cancel_rejected`` event (the
        order itself is unchanged)."""
        order = self.orders.get(client_order_id)
        if order is None:
            self.record_data_error("unknown_order", client_order_id)
            return
        self._emit(OrderEvent("cancel_rejected", self.name, client_order_id, order.status,
                              reason=reason))

    def mark_order_unknown(self, order: Order, reason: str) -> bool:
        """Flag ``order`` as of unknown outcome (it may be working at the venue, or not) with
        the reason, and emit ``unknown_outcome``. Reconciliation settles it; it is never
        re-sent. ``False`` if it was flagged already."""
        with self._lock:
            if order.unknown_outcome:
                return False
            order.unknown_outcome = True
        self._emit(OrderEvent("unknown_outcome", self.name, order.client_order_id,
                              order.status, reason=reason))
        return True

    def mark_unknown_outcome(self, reason: str = "the connection to the venue was lost") -> int:
        """Flag every open order as of unknown outcome (the venue dropped while they
        worked); returns how many were newly flagged."""
        flagged = sum(self.mark_order_unknown(order, reason) for order in self.open_orders())
        if flagged:
            log.warning("%s: %d open order(s) now of unknown outcome: %s", self.name, flagged,
                        reason)
        return flagged

    # ================================================================ restarts
    @property
    def recovering(self) -> bool:
        """True while orders restored from the journal wait for their first reconciliation
        (no new order is taken until then)."""
        return self._recovery_pending

    def restore_orders(self, orders: list[Order]) -> int:
        """Take back the open orders of an earlier run (from the journal): tracked again,
        flagged unknown outcome, a ``recovered`` event each; the connector takes no new order
        until a reconciliation with the venue ran. Returns how many were restored."""
        restored: list[Order] = []
        with self._lock:
            for order in orders:
                if order.client_order_id in self.orders:
                    continue
                order.connector = self.name
                order.unknown_outcome = True
                self.orders[order.client_order_id] = order
                if order.order_id:
                    self._venue_ids[order.order_id] = order.client_order_id
                restored.append(order)
            if restored:
                self._recovery_pending = True
        self.stats.orders_recovered += len(restored)
        for order in restored:
            self._emit(OrderEvent("recovered", self.name, order.client_order_id, order.status,
                                  reason="open when the last run ended"))
        if restored:
            log.warning("%s: %d order(s) of the last run restored; reconciling them with the "
                        "venue before taking new orders", self.name, len(restored))
        return len(restored)

    def adopt_external_order(self, order: Order, reason: str) -> Order:
        """Track an order this process did not send (another process, placed by hand at the
        venue, sent before the journal existed): flagged ``external``, journaled, counted, an
        ``external_order`` event, listed by ``manager.orders()`` and cancellable. Returns the
        order tracked under that client order id (the one already held, if any)."""
        with self._lock:
            known = self.orders.get(order.client_order_id)
            if known is not None:
                return known
            order.connector = self.name
            order.external = True
            self.orders[order.client_order_id] = order
            if order.order_id:
                self._venue_ids[order.order_id] = order.client_order_id
        self.stats.orders_external += 1
        log.warning("%s: external order %s (%s %s %g) adopted: %s", self.name,
                    order.client_order_id, order.side.value, order.symbol, order.quantity,
                    reason)
        journal = self.journal
        if journal is not None:
            journal.record_order(order)
        self._emit(OrderEvent("external_order", self.name, order.client_order_id,
                              order.status, reason=reason))
        return order

    def remember_venue_ref(self, order: Order, key: str, value: str) -> None:
        """Keep a venue reference of ``order`` (journaled with it: a restarted process can
        still reach the order at the venue, e.g. FIX's current ClOrdID, IB's permId)."""
        with self._lock:
            if order.venue_refs.get(key) == value:
                return
            order.venue_refs[key] = value
        journal = self.journal
        if journal is not None and order.client_order_id in self.orders:
            journal.record_venue_id(order)

    def save_state(self, key: str, value: str) -> None:
        """Keep a value of this connector across restarts (journaled at once when there is
        a journal), e.g. IB's order-id high-water mark."""
        self._state[key] = value
        journal = self.journal
        if journal is not None:
            journal.save_state(self.name, key, value)

    def load_state(self, key: str) -> str | None:
        """A value kept by :meth:`save_state`, in this run or (with a journal) an earlier one."""
        value = self._state.get(key)
        if value is None and self.journal is not None:
            value = self.journal.load_state(self.name, key)
        return value

    def order_event(self, kind: str, order: Order, *, reason: str | None = None,
                    fill: Fill | None = None) -> None:
        """Emit an order event of a kind the helpers above do not cover (listeners, the
        ``stockfish_order_event`` hook and the journal see it)."""
        self._emit(OrderEvent(kind, self.name, order.client_order_id, order.status,
                              fill=fill, reason=reason))

    def _settle_if_known(self, order: Order, cum_qty: float | None) -> None:
        """Clear ``unknown_outcome`` once a venue report settles the order: it is terminal
        and every fill is accounted for (FILLED, or the venue's cumulative quantity matches
        ours, or it was rejected/cancelled without ever filling)."""
        if not order.unknown_outcome or not order.is_terminal:
            return
        complete = order.status is OrderStatus.FILLED or (
            cum_qty is not None and cum_qty <= order.filled_quantity + _QTY_EPS)
        if not complete and cum_qty is None and order.status is OrderStatus.REJECTED:
            complete = not order.fills
        if complete:
            with self._lock:
                order.unknown_outcome = False
            self._emit(OrderEvent("reconciled", self.name, order.client_order_id,
                                  order.status))

    def _count_status(self, status: OrderStatus) -> None:
        stats = self.stats
        if status is OrderStatus.CANCELLED:
            stats.orders_cancelled += 1
        elif status is OrderStatus.REJECTED:
            stats.orders_rejected += 1
        elif status is OrderStatus.ERROR:
            stats.order_errors += 1
        elif status is OrderStatus.FILLED:
            stats.orders_filled += 1

    def _record_latency(self, client_order_id: str) -> None:
        sent = self._sent_ns.pop(client_order_id, None)
        if sent is not None:
            self.stats.record_latency(now_ns() - sent)

    def _emit(self, event: OrderEvent) -> None:
        journal = self.journal
        if journal is not None and event.kind != "submitted":  # the intent holds that state
            order = self.orders.get(event.client_order_id)
            if order is not None:
                journal.record_event(order, event)
        for listener in list(self._order_listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: order listener failed", self.name)
        events.emit("stockfish_order_event", event=event)

    # ================================================================ reconciliation
    def reconcile_orders(self, timeout: float = 5.0,
                         orders: list[Order] | None = None) -> ReconcileReport:
        """Ask the venue for the truth about ``orders`` (default: every open or
        unknown-outcome order) and settle those it answers for."""
        if orders is not None:
            pending = list(orders)
        else:
            with self._lock:  # send_order adds to it from other threads
                pending = [o for o in self.orders.values() if o.is_open or o.unknown_outcome]
        report = ReconcileReport(checked=len(pending))
        if not pending:
            if self._recovery_pending and orders is None and self.is_connected:
                self._recovery_pending = False
            return report
        before = {o.client_order_id: (o.status, len(o.fills)) for o in pending}
        answered = self.request_order_states(pending, timeout)
        for order in pending:
            status, nfills = before[order.client_order_id]
            report.fills_recovered += len(order.fills) - nfills
            report.status_changes += int(order.status is not status)
            if order.client_order_id in answered:
                report.answered += 1
                with self._lock:
                    order.unknown_outcome = False
                self._emit(OrderEvent("reconciled", self.name, order.client_order_id,
                                      order.status))
            elif order.unknown_outcome:
                report.still_unknown.append(order.client_order_id)
        log.info("%s: reconciled %d order(s): %d answered, %d fill(s) recovered, %d unknown",
                 self.name, report.checked, report.answered, report.fills_recovered,
                 len(report.still_unknown))
        if self._recovery_pending and orders is None and self.is_connected:
            self._recovery_pending = False
            log.info("%s: the orders of the last run are reconciled; taking new orders",
                     self.name)
        return report

    def order_counts(self) -> tuple[int, int]:
        """(open orders, unknown-outcome orders)."""
        with self._lock:
            values = list(self.orders.values())
        return (sum(1 for o in values if o.is_open),
                sum(1 for o in values if o.unknown_outcome))
