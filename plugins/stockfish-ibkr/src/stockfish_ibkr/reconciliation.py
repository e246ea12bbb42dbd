"""Reconciliation with TWS: ask for open orders, executions and completed orders, apply what
TWS says, and give every order it did not mention one verdict from one table.

The decision table (``docs/tws-errors.md`` has it too), for an order TWS did not list as
open or completed:

=============================================  =============================================
our order                                      verdict
=============================================  =============================================
final by a report of TWS's (or its             answered: nothing to change
executions fill it)
its placement is being retried (TWS's pacing   left to the retry, which checks TWS again
dropped it, error 100)                         before it places it
never acknowledged by TWS (no status, permId   first time: checked again after
or fill of TWS's), missing                     ``unknown_order_grace``; still missing then:
                                               REJECTED "IB has no record of this order
                                               (never received)"
acknowledged by TWS (any state, partly filled  unknown outcome, reason "TWS lost its record",
included), missing                             an ``unknown_outcome`` event once; settled
                                               when TWS reports it again
=============================================  =============================================

"Never received" is said only of an order TWS never acknowledged: bytes written into a
connection that stalled can still reach TWS after the client gave the connection up, hence
the grace. An acknowledged order TWS no longer lists (it forgot its working orders in a
restart) may or may not be working: only the user can decide to place it again.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from datetime import datetime, timezone

from stockfish_core.errors import ConnectorError
from stockfish_core.orders import Order, OrderStatus

from stockfish_ibkr.reports import ReportsMixin

__all__ = ["ReconciliationMixin", "Verdict"]

log = logging.getLogger(__name__)

#: Errors and refusals about one order are verified together after this long, once TWS's
#: own reports for the same event (the status that follows a 202, the fill that beat a
#: cancel) have arrived.
VERIFY_DELAY = 0.2


class Verdict(enum.Enum):
    """What reconciliation concludes about an order TWS did not list."""

    FINAL = "final by TWS's own report: answered"
    IN_RECOVERY = "its placement is being retried after TWS's pacing dropped it"
    RECHECK = "not seen yet: checked again after the grace"
    NEVER_RECEIVED = "REJECTED: TWS never acknowledged it"
    LOST_BY_TWS = "unknown outcome: TWS acknowledged it and lost its record"


class ReconciliationMixin(ReportsMixin):
    """Reconciliation, part of the execution role of
    :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    #: An order TWS has no record of is declared never received only when it is still
    #: unknown this many seconds later: bytes written into a connection that stalled can
    #: reach TWS after the client has given that connection up and reconnected.
    unknown_order_grace: float = 2.0

    def _init_reconciliation(self) -> None:
        self._reconcile_lock = threading.Lock()
        # client order id -> monotonic time TWS was first found to have no record of it
        self._unseen_since: dict[str, float] = {}
        self._to_verify: dict[str, str] = {}
        self._verify_lock = threading.Lock()
        self._verifier_running = False

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """Open orders (of every client), executions since the oldest of ``orders`` and
        completed orders, applied through the state machine (fills de-duplicated by
        execId; what is none of ours adopted as external); then a verdict for each order
        TWS did not list (the table in this module's docstring).

        While the orders of the last run are being recovered (the connector takes no new
        order until then), an order that needs a second look after the grace gets it
        here, so that every order of the last run has its verdict before a new one goes
        out; otherwise the second look runs in the background."""
        judged = self._ask_and_judge(orders, timeout)
        if judged is None:
            return set()  # TWS was not asked: no verdict on anything
        answered, recheck = judged
        if recheck and self.recovering and not self.wait_closing(self._grace_left(recheck)):
            again = self._ask_and_judge(recheck, timeout)
            if again is not None:
                answered |= again[0]
                recheck = again[1]
        if recheck:
            self.ib_counters["reconcile_rechecks"] += 1
            self._spawn(self._recheck_unseen, "reconcile-recheck")
        return answered

    def _ask_and_judge(self, orders: list[Order], timeout: float
                       ) -> tuple[set[str], list[Order]] | None:
        """Ask TWS once and give every order its verdict: (answered, to look at again),
        or None when TWS could not be asked."""
        # What TWS had acknowledged before it was asked: one acknowledged meanwhile may be
        # missing from answers TWS wrote before it took the order.
        acked = {o.client_order_id for o in orders if self._is_acked(o.client_order_id, o)}
        listed = self._lookup_orders(orders, timeout)
        if listed is None:
            return None
        found, short = listed
        return self._verdicts(orders, found, short, acked)

    def _grace_left(self, orders: list[Order]) -> float:
        """Seconds until the grace of every order in ``orders`` has passed."""
        now = time.monotonic()
        left = [self.unknown_order_grace - (now - since) for o in orders
                if (since := self._unseen_since.get(o.client_order_id)) is not None]
        return max([0.0, *left]) + 0.01

    def _lookup_orders(self, orders: list[Order], timeout: float
                       ) -> tuple[set[str], set[str]] | None:
        """Ask TWS about ``orders`` and apply its answers: the client order ids it listed
        as open or completed, and those of them with fills TWS did not report; None when
        TWS could not be asked now (down, busy). Raises when the asking failed midway
        (the connection ended, no answer)."""
        if not self.is_connected or self._ib is None:
            return None
        # One at a time: ib_insync keys the open- and completed-orders replies by name,
        # so a second request in flight would orphan the first one's future (reconnect,
        # rechecks, verifications and the pacing recovery can overlap).
        if not self._reconcile_lock.acquire(timeout=timeout):
            self.ib_counters["reconcile_busy"] += 1
            return None
        try:
            if not self.is_connected or self._ib is None:
                return None
            since = min(o.created_ns for o in orders) / 1e9 - 60.0
            self._pace()
            cids = [o.client_order_id for o in orders]
            return self._run(self._lookup_async, cids, since, timeout,
                             timeout=3 * timeout + 2)
        finally:
            self._reconcile_lock.release()

    async def _lookup_async(self, cids: list[str], since: float, timeout: float
                            ) -> tuple[set[str], set[str]]:
        ib = self._live_ib()
        mod = self._backend()
        stamp = datetime.fromtimestamp(since, timezone.utc).strftime("%Y%m%d-%H:%M:%S")
        # Every client's working orders (ours are matched by permId and orderRef, the rest
        # adopted), executions of every client TWS shows us, completed orders manual ones
        # included (an external order placed by hand ends there).
        open_trades = await self._ask(ib, ib.reqAllOpenOrdersAsync(), timeout)
        fills = await self._ask(ib, ib.reqExecutionsAsync(mod.ExecutionFilter(time=stamp)),
                                timeout)
        completed = await self._ask(ib, ib.reqCompletedOrdersAsync(False), timeout)
        listed = self._apply_reports(list(open_trades), list(completed), list(fills),
                                     set(cids))
        self.ib_counters["reconciliations"] += 1
        return listed

    # ------------------------------------------------------------------ verdicts
    def verdict(self, order: Order, now: float | None = None,
                acked_before: bool | None = None) -> Verdict:
        """The verdict for ``order`` when TWS lists it neither as open nor as completed
        (``acked_before``: whether TWS had acknowledged it before it was asked)."""
        cid = order.client_order_id
        if order.is_terminal:
            return Verdict.FINAL
        if cid in self._recovering:
            return Verdict.IN_RECOVERY
        if self._is_acked(cid, order):
            if acked_before is False:
                return Verdict.RECHECK  # acknowledged while TWS was answering: ask again
            return Verdict.LOST_BY_TWS
        now = time.monotonic() if now is None else now
        first_unseen = self._unseen_since.setdefault(cid, now)
        if now - first_unseen < self.unknown_order_grace:
            return Verdict.RECHECK
        return Verdict.NEVER_RECEIVED

    def _verdicts(self, orders: list[Order], found: set[str], short: set[str],
                  acked: set[str]) -> tuple[set[str], list[Order]]:
        """(answered, orders to look at again). Listed orders whose fills TWS did not all
        report (``short``) are listed but not answered: they stay of unknown outcome."""
        answered = found - short
        recheck: list[Order] = []
        now = time.monotonic()
        for order in orders:
            cid = order.client_order_id
            if cid in found:
                self._unseen_since.pop(cid, None)
                self._lost_orders.discard(cid)
                continue
            verdict = self.verdict(order, now, cid in acked)
            self.ib_counters[f"verdict_{verdict.name.lower()}"] += 1
            if verdict is Verdict.FINAL:
                answered.add(cid)
            elif verdict is Verdict.RECHECK:
                recheck.append(order)
            elif verdict is Verdict.NEVER_RECEIVED:
                answered.add(cid)
                dropped = self._dropped.get(cid)
                extra = f"; TWS's pacing had dropped it {dropped} time(s) (error 100)" \
                    if dropped else ""
                self.apply_order_status(cid, OrderStatus.REJECTED, reason=(
                    f"IB has no record of this order (never received){extra}"))
                self._after_report(cid)
            elif verdict is Verdict.LOST_BY_TWS:
                self._lost_by_tws(order)
            if verdict is not Verdict.RECHECK:
                self._unseen_since.pop(cid, None)
        return answered, recheck

    def _lost_by_tws(self, order: Order) -> None:
        """TWS acknowledged ``order`` and no longer lists it: unknown outcome, said once."""
        cid = order.client_order_id
        if cid in self._lost_orders:
            return
        self._lost_orders.add(cid)
        self.ib_counters["orders_lost_by_tws"] += 1
        ids = self.ibkr_order_map.ids(cid)
        perm = f" as permId {ids[1]}" if ids and ids[1] else ""
        reason = (f"TWS lost its record of this order: it acknowledged it{perm} "
                  f"({order.status.value}, {order.filled_quantity:g} filled) and lists it "
                  f"in neither open nor completed orders (a TWS restart?). It stays of "
                  f"unknown outcome until TWS reports it; placing it again is your call")
        log.warning("%s: order %s: %s", self.name, cid, reason)
        if not self.mark_order_unknown(order, reason):
            self.order_event("unknown_outcome", order, reason=reason)

    def _recheck_unseen(self) -> None:
        """Reconcile again once the grace has passed (a thread of its own, off the loop)."""
        if self.wait_closing(self.unknown_order_grace) or not self.is_connected:
            return  # closed, or down again: the next reconnect reconciles anyway
        self.reconcile_orders()

    # ------------------------------------------------------------------ verification
    def _verify_later(self, cid: str, why: str) -> None:
        """Ask TWS for ``cid``'s state soon (an error left it unclear): one thread at a
        time verifies every order queued meanwhile."""
        self.ib_counters["verifications"] += 1
        with self._verify_lock:
            self._to_verify[cid] = why
            if self._verifier_running:
                return
            self._verifier_running = True
        self._spawn(self._verify_pending, "verify")

    def _verify_pending(self) -> None:
        try:
            while not self.wait_closing(VERIFY_DELAY):
                with self._verify_lock:
                    batch, self._to_verify = self._to_verify, {}
                    if not batch:
                        self._verifier_running = False
                        return
                orders = [o for cid in batch if (o := self.orders.get(cid)) is not None]
                if orders and self.is_connected:
                    log.info("%s: asking TWS about %d order(s): %s", self.name, len(orders),
                             "; ".join(f"{cid}: {why}" for cid, why in batch.items()))
                    try:
                        self.reconcile_orders(orders=orders)
                    except ConnectorError as exc:  # down again: reconnecting reconciles
                        log.info("%s: verification failed: %s", self.name, exc)
        finally:
            with self._verify_lock:
                self._verifier_running = False
