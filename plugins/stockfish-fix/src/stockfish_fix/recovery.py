"""Restarts on the ``fix`` connector: the ClOrdIDs of each order kept in the journal,
restored orders found again by any ClOrdID of their chain, reports for ids this process
does not hold, venues that forgot an order, and OrderMassStatusRequest (AF).

- Every ClOrdID put on the wire for a cancel or replace is journaled (committed) before
  it goes out, in the order's ``venue_refs["cl_ord_ids"]``; the one the venue confirmed
  last is ``venue_refs["cl_ord_id"]``. A restarted process maps them all back to the order
  (an ExecutionReport for any ClOrdID of the chain, a PossDup resend included, finds it),
  numbers new ones after them (a ClOrdID is never used twice, across restarts too) and
  sends cancels with the right OrigClOrdID.
- A report whose ClOrdID no order holds: an order settled in an earlier run (the journal
  knows it: counted, ignored), or an order of someone else on the session's account,
  adopted as external (``FIX-<OrderID>``): never dropped. With ``mass_status_on_logon``
  the venue is asked for every order at each Logon. A report too thin to describe an
  order (no OrderID, Side, Symbol or quantity) is a counted ``unknown_order`` data error.
- An order the venue acknowledged and now has no record of (a venue restart that lost it)
  is never REJECTED: its outcome stays unknown, said once with the reason.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import OrderRejectedError, UnknownOrderError
from stockfish_core.orders import Order, OrderStatus, OrderType

from stockfish_fix import messages as m

if TYPE_CHECKING:
    import itertools

    from stockfish_core.journal import OrderJournal

__all__ = ["EXTERNAL_PREFIX", "REF_CHAIN", "REF_CURRENT", "FIXRecovery"]

log = logging.getLogger(__name__)

#: ``venue_refs`` key: every ClOrdID sent for the order's cancels and replaces (space-separated).
REF_CHAIN = "cl_ord_ids"
#: ``venue_refs`` key: the ClOrdID the venue knows the order by now (the next OrigClOrdID).
REF_CURRENT = "cl_ord_id"
#: Client order ids of adopted external orders: ``FIX-<OrderID>``.
EXTERNAL_PREFIX = "FIX-"
#: Seconds a ClOrdID's journal write may take before its cancel / replace is refused.
_JOURNAL_WAIT = 5.0
_WORKING = frozenset({OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED,
                      OrderStatus.FILLED})
_SUFFIX = re.compile(r"^(.+)-[CR]\d+$")  # our cancel / replace ClOrdIDs: <cid>-C<n>


class FIXRecovery:
    """The restart role of :class:`~stockfish_fix.connector.FIXConnector` (a mixin over
    ``BaseConnector`` and :class:`~stockfish_fix.execution.FIXExecution`)."""

    if TYPE_CHECKING:  # provided by BaseConnector and the other roles
        name: str
        settings: Any
        version: str
        orders: dict[str, Order]
        journal: OrderJournal | None
        fix_counters: collections.Counter[str]
        _ids: itertools.count[int]
        _tag: str
        _clordids: dict[str, str]
        _current: dict[str, str]
        _status_waits: dict[str, threading.Event]
        _unseen_since: dict[str, float]
        _logged_on: threading.Event

        def _send(self, msg: Any) -> bool: ...
        def find_order(self, order_id: str) -> Order: ...
        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...
        def remember_venue_ref(self, order: Order, key: str, value: str) -> None: ...
        def mark_order_unknown(self, order: Order, reason: str) -> bool: ...
        def order_event(self, kind: str, order: Order, *, reason: str | None = None,
                        fill: Any = None) -> None: ...
        def adopt_external_order(self, order: Order, reason: str) -> Order: ...

    def _init_recovery(self) -> None:
        self._chain_lock = threading.Lock()  # one new ClOrdID at a time per connector
        self._lost_reported: set[str] = set()  # orders said lost by the venue, once each
        self._mass_status_req: str | None = None  # MassStatusReqID of the request in flight
        self._mass_status_logons = -1  # the Logon (count) the last AF was sent after

    # ------------------------------------------------------------------ restored orders
    def restore_orders(self, orders: list[Order]) -> int:
        """The core's restore, then every ClOrdID of each restored order mapped back to it."""
        count: int = super().restore_orders(orders)  # type: ignore[misc]
        for order in orders:
            if self.orders.get(order.client_order_id) is order:
                self._map_cl_ord_ids(order)
        return count

    def _map_cl_ord_ids(self, order: Order) -> None:
        cid = order.client_order_id
        refs = order.venue_refs
        if not order.external:
            self._clordids[cid] = cid
        for cl_ord_id in refs.get(REF_CHAIN, "").split():
            self._clordids[cl_ord_id] = cid
        current = refs.get(REF_CURRENT)
        if current:
            self._clordids[current] = cid
            self._current[cid] = current

    def _next_cl_ord_id(self, order: Order, kind: str) -> str:
        """A new ClOrdID for a cancel (``C``) or replace (``R``) of ``order``, committed to
        the journal before it is returned: numbered after every ClOrdID the order ever had
        (in this run or an earlier one), so the venue never sees one twice."""
        cid = order.client_order_id
        with self._chain_lock:
            chain = order.venue_refs.get(REF_CHAIN, "").split()
            new_id = f"{cid}-{kind}{len(chain) + 1}"
            self.remember_venue_ref(order, REF_CHAIN, " ".join([*chain, new_id]))
            self._clordids[new_id] = cid
        journal = self.journal
        if journal is not None and not journal.flush(_JOURNAL_WAIT):
            raise OrderRejectedError(f"{self.name}: the order journal did not take ClOrdID "
                                     f"{new_id} in {_JOURNAL_WAIT:g} s: nothing sent", order)
        return new_id

    def _confirm_cl_ord_id(self, order: Order, cl_ord_id: str) -> None:
        """The venue now knows ``order`` by ``cl_ord_id`` (a cancel or replace it took)."""
        self._current[order.client_order_id] = cl_ord_id
        self.remember_venue_ref(order, REF_CURRENT, cl_ord_id)

    # ------------------------------------------------------------------ unmatched reports
    def _by_venue_order_id(self, report: m.ExecReport) -> str | None:
        """The order a report names by OrderID alone (its ClOrdID unknown here), when the
        symbol agrees: venue order ids are not trusted to be unique across venue restarts."""
        if not report.order_id:
            return None
        try:
            order = self.find_order(report.order_id)
        except UnknownOrderError:
            return None
        if order.order_id != report.order_id or (report.symbol and report.symbol != order.symbol):
            return None
        return order.client_order_id

    def _unmatched_report(self, report: m.ExecReport) -> str | None:
        """The client order id to apply a report for an id no order here holds, or None
        (counted: an order settled in an earlier run, or an unknown order)."""
        if self._settled_earlier(report):
            self.fix_counters["reports_for_settled_orders"] += 1
            return None
        return self._adopt(report)

    def _settled_earlier(self, report: m.ExecReport) -> bool:
        """Whether the journal holds the report's order as one of ours (an order that ended
        in an earlier run, whose reports the venue resends)."""
        journal = self.journal
        if journal is None:
            return False
        keys = [report.cl_ord_id, report.orig_cl_ord_id, report.order_id]
        for cl_ord_id in (report.cl_ord_id, report.orig_cl_ord_id):
            found = _SUFFIX.match(cl_ord_id or "")
            if found:
                keys.append(found.group(1))
        for key in keys:
            if not key:
                continue
            order = journal.find(key)
            if order is not None and order.connector == self.name:
                return True
        return False

    def _adopt(self, report: m.ExecReport) -> str | None:
        """Adopt the order a report describes (placed by someone else) as external."""
        order_id = report.order_id
        side = m.SIDE_FROM_FIX.get(report.side or "")
        quantity = report.order_qty or ((report.cum_qty or 0.0) + (report.leaves_qty or 0.0))
        if not order_id or side is None or not report.symbol or not quantity:
            self.record_data_error("unknown_order", f"{report.cl_ord_id[:60]} (too little "
                                   f"to adopt: OrderID, Side, Symbol, OrderQty)")
            return None
        kind = m.ORD_TYPE_FROM_FIX.get(report.ord_type or "")
        if kind is None:
            kind = OrderType.LIMIT if report.price else OrderType.MARKET
        limit = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        try:
            order = Order(report.symbol, side, quantity, kind,
                          price=report.price if limit else None,
                          client_order_id=f"{EXTERNAL_PREFIX}{order_id}", order_id=order_id,
                          venue_refs={REF_CURRENT: report.cl_ord_id})
        except (TypeError, ValueError) as exc:
            self.record_data_error("bad_external_order", f"{order_id[:60]}: {exc}")
            return None
        held = self.adopt_external_order(
            order, f"reported by the venue (ClOrdID {report.cl_ord_id}), not sent by this "
                   f"process")
        self._map_cl_ord_ids(held)
        self.fix_counters["external_orders"] += 1
        return held.client_order_id

    # ------------------------------------------------------------------ verdicts
    @staticmethod
    def _acknowledged(order: Order) -> bool:
        """Whether the venue ever acknowledged ``order``: its OrderID, a fill, or a status
        only the venue gives (working, filled). A REJECTED order without either was
        refused, not acknowledged: "no record" settles it as before."""
        return bool(order.order_id) or bool(order.fills) or order.status in _WORKING

    def _lost_by_venue(self, order: Order) -> None:
        """The venue acknowledged ``order`` and now has no record of it (a restart that
        forgot its orders): its outcome stays unknown (never REJECTED), said once."""
        cid = order.client_order_id
        self._unseen_since.pop(cid, None)
        if cid in self._lost_reported:
            return
        self._lost_reported.add(cid)
        self.fix_counters["orders_lost_by_venue"] += 1
        reason = (f"the venue has no record of this order, which it acknowledged (OrderID "
                  f"{order.order_id or 'not given'}, {order.status.value}): it may have "
                  f"lost it in a restart; the outcome stays unknown")
        log.warning("%s: order %s: %s", self.name, cid, reason)
        if not self.mark_order_unknown(order, reason):
            self.order_event("unknown_outcome", order, reason=reason)

    # ------------------------------------------------------------------ mass status
    def _ask_mass_status(self) -> None:
        """After a Logon (``mass_status_on_logon``): an OrderMassStatusRequest (AF) for
        every order, waiting (``request_timeout``) for its last report, a reject or the end
        of the session. Its reports go through the usual paths; ids never sent here are
        adopted as external orders."""
        logons = self.fix_counters["logons"]
        if not self.settings.mass_status_on_logon or logons == self._mass_status_logons:
            return
        self._mass_status_logons = logons
        req_id = f"MS-{self._tag}-{next(self._ids)}"
        event = threading.Event()
        key = f"AF:{req_id}"
        self._status_waits[key] = event  # the session's end wakes it too
        self._mass_status_req = req_id
        try:
            if not self._send(m.encode_mass_status_request(req_id, self.version)):
                return
            self.fix_counters["mass_status_requests"] += 1
            if not event.wait(self.settings.request_timeout):
                self.fix_counters["mass_status_timeouts"] += 1
                log.warning("%s: no end to the OrderMassStatusRequest %s in %g s", self.name,
                            req_id, self.settings.request_timeout)
        finally:
            self._status_waits.pop(key, None)
            self._mass_status_req = None

    def _mass_status_answered(self, report: m.ExecReport) -> None:
        """A report of a mass status: the last one ends the wait."""
        req_id = report.mass_status_req_id
        if req_id is None:
            return
        self.fix_counters["mass_status_reports"] += 1
        if report.last_rpt_requested:
            event = self._status_waits.get(f"AF:{req_id}")
            if event is not None:
                event.set()

    def _mass_status_refused(self, text: str) -> None:
        """The venue refused our AF (a BusinessMessageReject): stop waiting, say so."""
        req_id = self._mass_status_req
        self.fix_counters["mass_status_refused"] += 1
        log.warning("%s: the venue refused the OrderMassStatusRequest (%s): set "
                    "mass_status_on_logon: false for this venue", self.name, text)
        event = self._status_waits.get(f"AF:{req_id}") if req_id else None
        if event is not None:
            event.set()
