"""Execution on the ``fix`` connector: orders out (D, F, G, H) and the venue's answers in
(ExecutionReport, OrderCancelReject, BusinessMessageReject, session Reject) mapped onto the
core's order path through its public helpers.

The client order id is the first ClOrdID; each cancel or replace gets a ClOrdID of its own,
mapped back to the order. Fills are applied once (ExecIDs de-duplicate); a venue answering a
status request with its totals alone has the missing quantity booked from CumQty/AvgPx.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import NotConnectedError, OrderNotSentError, OrderRejectedError
from stockfish_core.orders import Fill, Order, OrderStatus, OrderType

from stockfish_fix import messages as m
from stockfish_fix.wire import parse_tick

if TYPE_CHECKING:
    import itertools

    from stockfish_core.connector_stats import ConnectorStats
    from stockfish_core.orders import Transition

__all__ = ["FIXExecution"]

log = logging.getLogger(__name__)


class FIXExecution:
    """The execution role of :class:`~stockfish_fix.connector.FIXConnector` (a mixin over
    ``BaseConnector``)."""

    #: An order the venue has no record of is declared never received only when it is
    #: still unknown this many seconds later: bytes written into a connection that stalled
    #: can reach the venue after the client has given that connection up and logged on again.
    unknown_order_grace: float = 2.0

    if TYPE_CHECKING:  # provided by BaseConnector and the other roles
        name: str
        settings: Any
        stats: ConnectorStats
        version: str
        orders: dict[str, Order]
        fix_counters: collections.Counter[str]
        _ids: itertools.count[int]
        _logged_on: threading.Event
        _sent_seq: collections.OrderedDict[int, tuple[str, str]]

        @property
        def is_connected(self) -> bool: ...
        @property
        def recovering(self) -> bool: ...
        def _send(self, msg: Any) -> bool: ...
        def _require_connected(self) -> None: ...
        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...
        def bind_venue_order_id(self, client_order_id: str, venue_order_id: str) -> None: ...
        def apply_order_status(self, client_order_id: str, status: OrderStatus, *,
                               venue_order_id: str | None = None, reason: str | None = None,
                               cum_qty: float | None = None) -> Transition: ...
        def apply_execution(self, client_order_id: str, fill: Fill) -> Transition: ...
        def apply_replace(self, client_order_id: str, *, quantity: float | None = None,
                          price: float | None = None,
                          stop_price: float | None = None) -> Transition: ...
        def reject_cancel(self, client_order_id: str, reason: str) -> None: ...
        def wait_closing(self, timeout: float) -> bool: ...
        def reconcile_orders(self, timeout: float = 5.0, orders: Any = None) -> Any: ...
        def _next_cl_ord_id(self, order: Order, kind: str) -> str: ...
        def _confirm_cl_ord_id(self, order: Order, cl_ord_id: str) -> None: ...
        def _by_venue_order_id(self, report: m.ExecReport) -> str | None: ...
        def _unmatched_report(self, report: m.ExecReport) -> str | None: ...
        def _mass_status_answered(self, report: m.ExecReport) -> None: ...
        def _mass_status_refused(self, text: str) -> None: ...
        @staticmethod
        def _acknowledged(order: Order) -> bool: ...
        def _lost_by_venue(self, order: Order) -> None: ...

    def _init_execution(self) -> None:
        self._clordids: dict[str, str] = {}  # every ClOrdID we sent -> client order id
        self._current: dict[str, str] = {}  # client order id -> its current ClOrdID
        self._replaces: dict[str, tuple[float | None, float | None]] = {}
        self._status_waits: dict[str, threading.Event] = {}
        self._status_answers: set[str] = set()  # ids answered since their request
        # client order id -> monotonic time the venue first said it has no such order
        self._unseen_since: dict[str, float] = {}
        # One recheck thread at a time; a request while it runs makes it go round again.
        self._recheck_lock = threading.Lock()
        self._recheck_running = False
        self._recheck_wanted = False
        # Tick sizes parsed once (Decimal), not per order.
        ticks = self.settings.tick_sizes
        self._ticks = {symbol: parse_tick(f"tick_sizes.{symbol}", tick)
                       for symbol, tick in ticks.items()}
        self._default_tick = self._ticks.get("*")

    def _client_id(self, cl_ord_id: str | None, orig: str | None = None) -> str | None:
        ids = self._clordids
        cid = ids.get(cl_ord_id) if cl_ord_id else None
        if cid is None and orig:
            cid = ids.get(orig)
        return cid

    def _order_tags(self, order: Order) -> dict[str, str]:
        """The custom fields of ``order``: the venue's (``order_tags``), then its own."""
        tags = self.settings.order_tags
        return {**tags, **order.tags} if order.tags else tags

    def submit_order(self, order: Order) -> None:
        """Send a NewOrderSingle; the client order id is the ClOrdID. A field that cannot
        be written exactly (a control character, a price off the tick) refuses the order
        before anything is sent."""
        cid = order.client_order_id
        s = self.settings
        try:
            msg = m.encode_new_order(order, cid, self.version, s.account,
                                     tick=self._ticks.get(order.symbol, self._default_tick),
                                     tags=self._order_tags(order))
        except (KeyError, ValueError) as exc:
            self.fix_counters["orders_refused_for_the_wire"] += 1
            raise OrderNotSentError(str(exc), order) from exc
        self._clordids[cid] = cid
        self._current[cid] = cid
        if not self._send(msg):
            # Not on the wire (QuickFIX keeps it only to gap-fill a resend): definite.
            raise NotConnectedError(f"{self.name} session is not logged on")

    def submit_cancel(self, order: Order) -> bool:
        """Send an OrderCancelRequest."""
        self._require_connected()
        cid = order.client_order_id
        orig = self._current.get(cid, cid)
        try:
            m.encode_cancel(order, "C", orig, self.version)  # refuse a bad field first
            new_id = self._next_cl_ord_id(order, "C")  # journaled before it goes out
            msg = m.encode_cancel(order, new_id, orig, self.version)
        except ValueError as exc:
            raise OrderRejectedError(f"{self.name}: cancel not sent: {exc}", order) from exc
        return self._send(msg)

    def submit_replace(self, order: Order, quantity: float | None,
                       price: float | None) -> bool:
        """Send an OrderCancelReplaceRequest with a new quantity and/or price."""
        self._require_connected()
        cid = order.client_order_id
        s = self.settings
        orig = self._current.get(cid, cid)

        def encode(new_id: str) -> Any:
            return m.encode_replace(order, new_id, orig, self.version,
                                    quantity=quantity, price=price, account=s.account,
                                    tick=self._ticks.get(order.symbol, self._default_tick),
                                    tags=self._order_tags(order))

        try:
            encode("R")  # refuse a bad field before a ClOrdID is spent
            new_id = self._next_cl_ord_id(order, "R")  # journaled before it goes out
            msg = encode(new_id)
        except ValueError as exc:
            raise OrderRejectedError(f"{self.name}: replace not sent: {exc}", order) from exc
        self._replaces[new_id] = (quantity, price)
        return self._send(msg)

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """OrderStatusRequest (H) for each order; the venue's ExecutionReports (fills
        re-reported with their ExecIDs, then a status) go through the state machine, with
        fills de-duplicated by ExecID; a venue that answers with the totals alone has what
        its CumQty adds booked as one fill. Returns the ids the venue answered for; stops
        waiting when the session ends.

        At a restart (``recovering``) every order gets its verdict here: one the venue
        never acknowledged and does not know is asked about again once its
        ``unknown_order_grace`` has passed, then REJECTED as never received."""
        answered = self._request_states_once(orders, timeout)
        if not self.recovering:
            return answered
        unseen = [o for o in orders if o.client_order_id in self._unseen_since
                  and not o.is_terminal]
        if not unseen:
            return answered
        first = min(self._unseen_since.get(o.client_order_id, 0.0) for o in unseen)
        pause = first + self.unknown_order_grace - time.monotonic() + 0.05
        if pause > 0 and self.wait_closing(pause):
            return answered
        return answered | self._request_states_once(unseen, timeout)

    def _request_states_once(self, orders: list[Order], timeout: float) -> set[str]:
        if not self._logged_on.is_set():
            return set()
        waits: dict[str, threading.Event] = {}
        for order in orders:
            cid = order.client_order_id
            self._status_answers.discard(cid)
            event = threading.Event()
            self._status_waits[cid] = event
            waits[cid] = event
            self._clordids.setdefault(cid, cid)
            try:
                msg = m.encode_status_request(order, self._current.get(cid, cid),
                                              self.version)
            except ValueError as exc:  # an id the venue gave that cannot go back on the wire
                self.record_data_error("status_request_not_sent", f"{cid}: {exc}")
                continue
            if not self._send(msg):
                break
        deadline = time.monotonic() + timeout
        for event in waits.values():
            event.wait(max(deadline - time.monotonic(), 0.0))
        answered = {cid for cid in waits if cid in self._status_answers}
        for cid in waits:
            self._status_waits.pop(cid, None)
            self._status_answers.discard(cid)
        self.fix_counters["status_requests"] += len(waits)
        return answered

    # -- venue reports (QuickFIX thread) ---------------------------------------------------
    def _on_execution_report(self, msg: Any) -> None:
        report = m.decode_execution_report(msg)
        if report.poss_dup:
            self.fix_counters["possdup_reports"] += 1
        cid = self._client_id(report.cl_ord_id, report.orig_cl_ord_id) \
            or self._by_venue_order_id(report)
        if cid is None and not (report.mass_status_req_id and report.order_id is None):
            cid = self._unmatched_report(report)  # "no orders" ends a mass status alone
        order = self.orders.get(cid) if cid is not None else None
        if order is None:
            if cid is not None:
                self.record_data_error("unknown_order", cid)
            self._mass_status_answered(report)
            return
        if report.order_id:
            self.bind_venue_order_id(cid, report.order_id)
        exec_type = report.exec_type
        if report.is_trade:
            if self._counted_by_status(order, report):
                self.stats.duplicate_fills += 1
                self.fix_counters["fills_known_from_status"] += 1
            else:
                self.apply_execution(cid, Fill(report.exec_id, report.last_qty, report.last_px,
                                            venue_order_id=report.order_id))
        elif exec_type == "5" and (report.cl_ord_id in self._replaces
                                   or self._chained(cid, report.cl_ord_id)):
            # A replace we asked for: in this run, or by a process that died before the
            # answer came (its ClOrdID is in the journaled chain; the values are the report's).
            self._apply_replace(order, report)
        elif exec_type == "I":
            self._apply_status_report(order, report)
        else:
            status, reason = m.exec_report_status(report)
            if status is not None and not (status is OrderStatus.SUBMITTED and order.fills):
                self.apply_order_status(cid, status, venue_order_id=report.order_id,
                                        reason=reason, cum_qty=report.cum_qty)
        if report.cl_ord_id != cid and exec_type in ("4", "5") \
                and self._clordids.get(report.cl_ord_id) == cid:
            self._confirm_cl_ord_id(order, report.cl_ord_id)
        self._mass_status_answered(report)

    def _chained(self, cid: str, cl_ord_id: str) -> bool:
        """Whether ``cl_ord_id`` is one of the later ClOrdIDs of order ``cid``."""
        return cl_ord_id != cid and self._clordids.get(cl_ord_id) == cid

    def _apply_replace(self, order: Order, report: m.ExecReport) -> None:
        quantity, price = self._replaces.pop(report.cl_ord_id, (None, None))
        new_qty = report.order_qty if report.order_qty else quantity
        new_px = report.price if report.price else price
        self._confirm_cl_ord_id(order, report.cl_ord_id)
        if new_qty is not None or new_px is not None:
            self.apply_replace(order.client_order_id, quantity=new_qty, price=new_px)

    @staticmethod
    def _counted_by_status(order: Order, report: m.ExecReport) -> bool:
        """True for a new ExecID whose CumQty the order's filled quantity already covers:
        its quantity was booked from a status answer while this report was away (it comes
        now as a resend), so applying it would count the same shares twice."""
        if report.cum_qty is None or order.filled_quantity < report.cum_qty - 1e-9:
            return False
        return not order.has_fill(report.exec_id)

    def _book_cumulative(self, order: Order, report: m.ExecReport) -> None:
        """Book what a status answer's CumQty says was filled beyond the executions we
        have (many venues answer an OrderStatusRequest with the totals alone), priced so
        that the order's average matches AvgPx."""
        cum = report.cum_qty
        if cum is None or cum <= order.filled_quantity + 1e-9:
            return
        missing = cum - order.filled_quantity
        seen = sum(f.quantity * f.price for f in order.fills)
        avg = report.avg_px or 0.0
        price = (avg * cum - seen) / missing if avg > 0 else 0.0
        if not (price > 0 and math.isfinite(price)):
            self.record_data_error("bad_status", f"{order.client_order_id}: CumQty {cum:g} "
                                   f"without a usable AvgPx ({report.avg_px})")
            return
        venue_id = report.order_id or order.client_order_id
        self.fix_counters["fills_from_status"] += 1
        self.apply_execution(order.client_order_id, Fill(f"{venue_id}:cum:{cum:g}", missing,
                                                      price, venue_order_id=report.order_id))

    def _apply_status_report(self, order: Order, report: m.ExecReport) -> None:
        cid = order.client_order_id
        if report.order_qty and order.is_open \
                and abs(report.order_qty - order.quantity) > 1e-9:
            # A replace the venue confirmed while no report reached us (the process that
            # asked for it died): the venue's quantity and price are the order's now.
            limit = order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
            self.fix_counters["replaces_from_status"] += 1
            self.apply_replace(cid, quantity=report.order_qty,
                               price=report.price if limit and report.price else None)
        self._book_cumulative(order, report)
        # The verdict is the answer's codes (OrdStatus 8 + OrdRejReason 5), never its Text.
        if report.is_unknown_order:
            self._no_record_at_venue(order)
            return
        else:
            self._unseen_since.pop(cid, None)
            status, reason = m.exec_report_status(report)
            # The same status again still settles an unknown outcome (CumQty says whether
            # every fill is here).
            if status is not None and not (status is OrderStatus.SUBMITTED and order.fills):
                self.apply_order_status(cid, status, venue_order_id=report.order_id,
                                        reason=reason, cum_qty=report.cum_qty)
        event = self._status_waits.get(cid)
        if event is not None:
            self._status_answers.add(cid)
            event.set()

    def _no_record_at_venue(self, order: Order) -> None:
        """The venue answered a status request with "unknown order". One it acknowledged
        stays of unknown outcome (a venue restart may have lost it; never REJECTED). One
        it never acknowledged is REJECTED as never received, once ``unknown_order_grace``
        has passed (it may still be in bytes the venue has not read)."""
        cid = order.client_order_id
        event = self._status_waits.get(cid)
        if self._acknowledged(order):
            self._lost_by_venue(order)
        else:
            first = self._unseen_since.setdefault(cid, time.monotonic())
            if time.monotonic() - first < self.unknown_order_grace:
                self.fix_counters["unknown_order_rechecks"] += 1
                self._schedule_recheck()
            else:
                self._unseen_since.pop(cid, None)
                self.apply_order_status(cid, OrderStatus.REJECTED,
                                        reason="never received: the venue has no record of "
                                               "this order, which it never acknowledged")
                self._status_answers.add(cid)
        if event is not None:
            event.set()  # answered; settled only when REJECTED above

    def _schedule_recheck(self) -> None:
        """Reconcile again once ``unknown_order_grace`` has passed (one thread at a time,
        never on QuickFIX's thread). A request that comes while a recheck runs is not lost:
        the running thread goes round again (its own reconciliation may be what found a
        new unknown order, still within its grace)."""
        with self._recheck_lock:
            self._recheck_wanted = True
            if self._recheck_running:
                return
            self._recheck_running = True
        threading.Thread(target=self._recheck_loop, daemon=True,
                         name=f"{self.name}-recheck").start()

    def _recheck_loop(self) -> None:
        try:
            while True:
                with self._recheck_lock:
                    if not self._recheck_wanted:
                        self._recheck_running = False
                        return
                    self._recheck_wanted = False
                if self.wait_closing(self.unknown_order_grace):
                    break
                try:
                    if self.is_connected:
                        self.reconcile_orders()
                except Exception as exc:  # the link went: the next reconnect reconciles
                    log.info("%s: recheck of unknown orders failed: %s", self.name, exc)
        finally:
            with self._recheck_lock:
                self._recheck_running = False

    def _on_cancel_reject(self, msg: Any) -> None:
        cl_ord_id, orig, _ord_status, reason = m.decode_cancel_reject(msg)
        cid = self._client_id(cl_ord_id, orig)
        if cid is None or cid not in self.orders:
            self.record_data_error("unknown_order", cl_ord_id[:60])
            return
        self._replaces.pop(cl_ord_id, None)
        self.fix_counters["cancel_rejects"] += 1
        self.reject_cancel(cid, reason)

    def _on_business_reject(self, msg: Any) -> None:
        ref_type, _ref_seq, ref_id, text = m.decode_business_reject(msg)
        cid = self._client_id(ref_id) if ref_id else None
        self.fix_counters["business_rejects"] += 1
        if ref_type == "AF":
            self._mass_status_refused(text)
        elif cid is not None and ref_type == "H":
            self._status_request_refused(cid, text, m.business_reject_reason(msg) == "1")
        elif cid is not None and ref_type == "D":
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason=f"business reject: {text}")
        elif cid is not None and ref_type in ("F", "G"):
            self.reject_cancel(cid, text)
        else:
            self.record_data_error("business_reject", f"{ref_type}: {text}")

    def _on_session_reject(self, msg: Any) -> None:
        seq, text = m.decode_session_reject(msg)
        self.fix_counters["session_rejects"] += 1
        sent = self._sent_seq.get(seq) if seq is not None else None
        cid = self._client_id(sent[1]) if sent else None
        if sent is not None and cid is not None and sent[0] == "D":
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason=f"session reject: {text}")
        elif sent is not None and cid is not None and sent[0] == "H":
            self._status_request_refused(cid, text, unknown_id=False)
        elif sent is not None and cid is not None:
            self.reject_cancel(cid, text)
        else:
            self.record_data_error("session_reject", text)


    def _status_request_refused(self, cid: str, text: str, unknown_id: bool) -> None:
        """The venue refused an OrderStatusRequest: "unknown id" is the venue's verdict
        that it has no such order (:meth:`_no_record_at_venue`); any other refusal answers
        nothing (the order keeps its state and flag)."""
        order = self.orders.get(cid)
        if order is None:
            return
        self.fix_counters["status_requests_refused"] += 1
        if unknown_id:
            self._no_record_at_venue(order)
            return
        log.warning("%s: the venue refused the status request of %s: %s", self.name, cid,
                    text)
        event = self._status_waits.get(cid)
        if event is not None:
            event.set()
