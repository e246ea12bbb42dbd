"""Recovery after the application restarts: the orders of the last run back from the
journal, what TWS reports at logon, and the order-id high-water mark across processes.

What a restart does (the manager drives it, see ``docs/journal.md``):

1. :meth:`RecoveryMixin.restore_orders` (before ``connect``) takes back the orders the
   journal held open, each flagged unknown outcome, and finds them again by their IB ids:
   permId (journaled as ``venue_refs["perm_id"]``) and the orderId this client assigned
   (their venue order id). An order with a status of TWS's, a permId or a fill was
   acknowledged by TWS; one without was never seen acknowledged, and its grace for late
   bytes (``unknown_order_grace``) counts from the restore: the dead process can have
   written nothing after that.
2. At logon ib_insync / ib_async download open orders, completed orders and executions
   before the session is ours; :meth:`_absorb_logon` applies them once the session is
   set, with every client's working orders (reqAllOpenOrders): fills once each (execId),
   statuses through the state machine, what is none of ours adopted as external.
3. ``reconcile_orders`` then asks TWS again and gives each order of the last run its
   verdict (the table in :mod:`stockfish_ibkr.reconciliation`); until then the connector
   takes no new order.

Order ids: the high-water mark is journaled (``save_state("next_order_id", mark + 1)``,
synchronously) each time it rises, so before every placeOrder. At connect the mark is the
highest of the journaled one, TWS's ``nextValidId`` and every id of this client TWS
reported at logon; a ``nextValidId`` at or below an id that may have been used is logged,
counted (``order_id_rollbacks``) and skipped past.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from stockfish_core.orders import Order, OrderStatus

from stockfish_ibkr.order_map import PERM_ID
from stockfish_ibkr.reconciliation import ReconciliationMixin

__all__ = ["NEXT_ORDER_ID", "RecoveryMixin"]

log = logging.getLogger(__name__)

#: The connector value (``save_state``) holding the next order id this client may use.
NEXT_ORDER_ID = "next_order_id"


def _positive_int(value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        return 0
    return max(number, 0)


class RecoveryMixin(ReconciliationMixin):
    """Restarts: restored orders, logon reports, journaled order ids (part of the
    execution role of :class:`~stockfish_ibkr.connector.IBKRConnector`)."""

    def _init_recovery(self) -> None:
        self._mark_lock = threading.RLock()
        self._saved_next_id = 0  # the journaled next order id, as last read or written
        self._mark_loaded = False
        self.ibkr_order_map.persist = self._persist_mark

    # ------------------------------------------------------------------ order ids
    def _load_saved_mark(self, *, force: bool = False) -> int:
        """The journaled next order id (0: none), raising the high-water mark to what it
        implies. Read once, or again with ``force``."""
        with self._mark_lock:
            if self._mark_loaded and not force:
                return self._saved_next_id
            self._mark_loaded = True
            text = self.load_state(NEXT_ORDER_ID)
            saved = _positive_int(text) if text is not None else 0
            if text is not None and saved == 0:
                log.error("%s: the journaled next order id %r is not a number: ignored",
                          self.name, text)
            self._saved_next_id = max(self._saved_next_id, saved)
            if saved > 1:
                self.ibkr_order_map.load_high_water_mark(saved - 1)
            return self._saved_next_id

    def _persist_mark(self, mark: int) -> None:
        """The mark rose to ``mark``: journal ``mark + 1`` as the next order id before any
        id up to ``mark`` is used (raises if it cannot be journaled)."""
        with self._mark_lock:
            if mark + 1 > self._load_saved_mark():
                self.save_state(NEXT_ORDER_ID, str(mark + 1))
                self._saved_next_id = mark + 1

    def _observe_ids_at_connect(self, ib: Any) -> None:
        """Raise the order-id high-water mark to the journaled one and to every id of this
        client TWS reported at logon (open orders, executions; completed orders carry no
        order id), then skip TWS's ``nextValidId`` past it when it is at or below an id
        that may have been used (loop thread, before any order is placed)."""
        omap = self.ibkr_order_map
        saved = self._load_saved_mark(force=True) - 1
        mine = self.settings.client_id
        seen = [t.order.orderId for t in ib.trades() if t.order.clientId == mine]
        seen += [f.execution.orderId for f in ib.fills() if f.execution.clientId == mine]
        seen = [i for i in seen if isinstance(i, int) and i > 0]
        if seen:
            omap.observe_order_id(max(seen))
        # Ids up to the journaled mark may have reached TWS: a crash leaves no trace of
        # which did.
        self._tws_id_mark = max([self._tws_id_mark, saved, *seen])
        proposed = self._tws_next_valid_id
        mark = omap.high_water_mark
        if 0 < proposed <= self._tws_id_mark:
            self.ib_counters["order_id_rollbacks"] += 1
            log.warning("%s: TWS's next valid order id %d is not above %d, an id that may "
                        "have been used (rolled back by a TWS restart?): new orders start "
                        "at %d", self.name, proposed, self._tws_id_mark, mark + 1)
        elif 0 < proposed <= mark:
            # Only ids TWS refused or dropped lie above it: TWS never used them.
            log.info("%s: TWS's next valid order id %d; new orders start at %d, above ids "
                     "TWS refused", self.name, proposed, mark + 1)
        ib.client.updateReqId(mark + 1)

    # ------------------------------------------------------------------ restored orders
    def restore_orders(self, orders: list[Order]) -> int:
        """Take back the open orders of an earlier run (see the module docstring) and find
        them again by their IB ids."""
        self._load_saved_mark()
        restored = super().restore_orders(orders)
        now = time.monotonic()
        for order in orders:
            if self.orders.get(order.client_order_id) is order:
                self._rebind(order, now)
        return restored

    def _rebind(self, order: Order, now: float) -> None:
        cid = order.client_order_id
        omap = self.ibkr_order_map
        perm = _positive_int(order.venue_refs.get(PERM_ID, ""))
        if perm:
            omap.bind_perm_id(cid, perm)
        if order.external:
            order_id = _positive_int(order.tags.get("ib_order_id", "")) \
                if order.tags.get("ib_client_id") == str(self.settings.client_id) else 0
        else:
            order_id = _positive_int(order.order_id or "")
        if order_id:
            omap.bind_order_id(cid, order_id)
        if order.status is not OrderStatus.PENDING or perm or order.fills or order.external:
            self._acked.add(cid)
        else:
            self._unseen_since[cid] = now

    # ------------------------------------------------------------------ logon
    async def _logon_orders(self, ib: Any) -> None:
        """Every client's working orders, then completed orders again, added to what the
        library downloaded at logon (loop thread, before the session is ours): every
        execution it downloaded then belongs to an order listed as working or completed,
        also one that ended during the logon. A TWS that does not answer in time only
        delays external orders to the next reconciliation."""
        if self.read_only:
            return
        limit = self.settings.request_timeout
        try:
            await self._ask(ib, ib.reqAllOpenOrdersAsync(), limit)
            await self._ask(ib, ib.reqCompletedOrdersAsync(False), limit)
        except asyncio.TimeoutError:
            log.warning("%s: TWS did not list every client's orders at logon in time",
                        self.name)

    def _absorb_logon(self, ib: Any) -> None:
        """Apply what TWS reported at logon (loop thread, the session just set)."""
        if self.read_only:
            return
        try:
            trades = list(ib.trades())
            open_trades = [t for t in trades if not t.isDone()]
            completed = [t for t in trades if t.isDone()]
            self._apply_reports(open_trades, completed, list(ib.fills()), None)
            self.ib_counters["logon_reports"] += 1
        except Exception:  # the reconciliation that follows asks again
            log.exception("%s: applying TWS's reports at logon failed", self.name)
