"""Execution: orders on the wire (submit, cancel), TWS's order events and executions, the
order id map, and reconciliation with TWS (open orders, executions, completed orders)."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import ConnectorError, NotConnectedError, OrderNotSentError
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus, OrderType

from stockfish_ibkr.normalize import fill_from_execution, map_order_status
from stockfish_ibkr.order_map import IBKROrderMap
from stockfish_ibkr.session import SessionMixin

__all__ = ["ExecutionMixin"]

_IB_ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
                   OrderType.STOP_LIMIT: "STP LMT"}


class ExecutionMixin(SessionMixin):
    """The execution role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    #: An order TWS has no record of is declared never received only when it is still
    #: unknown this many seconds later: bytes written into a connection that stalled can
    #: reach TWS after the client has given that connection up and reconnected.
    unknown_order_grace: float = 2.0

    if TYPE_CHECKING:  # provided by the other roles
        def qualify(self, symbol: str) -> Any: ...

    def _init_execution(self) -> None:
        self.ibkr_order_map = IBKROrderMap()
        self._reconcile_lock = threading.Lock()
        self._trades: dict[str, Any] = {}  # client order id -> ib Trade
        # client order id -> monotonic time TWS was first found to have no record of it
        self._unseen_since: dict[str, float] = {}

    # ================================================================== order events
    def _client_id_for(self, order_ref: Any, perm_id: Any, order_id: Any,
                       client_id: Any = None) -> str | None:
        if isinstance(order_ref, str) and order_ref in self.orders:
            return order_ref
        omap = self.ibkr_order_map
        if isinstance(perm_id, int) and perm_id:
            cid = omap.by_perm_id(perm_id)
            if cid is not None:
                return cid
        if isinstance(order_id, int) and order_id > 0 and client_id in (None,
                                                                        self.settings.client_id):
            return omap.by_order_id(order_id)
        return None

    def _bind(self, cid: str, order: Any) -> None:
        if self.ibkr_order_map.bind_perm_id(cid, getattr(order, "permId", 0) or 0):
            self.ib_counters["perm_ids_bound"] += 1

    def _on_open_order(self, ib: Any, trade: Any) -> None:
        if ib is not self._ib:
            return
        order = trade.order
        cid = self._client_id_for(order.orderRef, order.permId, order.orderId, order.clientId)
        if cid is None:
            self.ib_counters["foreign_orders"] += 1
            return
        self._bind(cid, order)
        self._trades[cid] = trade
        self._apply_trade_status(cid, trade)

    def _on_order_status_event(self, ib: Any, trade: Any) -> None:
        if ib is not self._ib:
            return
        order = trade.order
        cid = self._client_id_for(order.orderRef, trade.orderStatus.permId or order.permId,
                                  order.orderId, order.clientId)
        if cid is None:
            self.ib_counters["foreign_orders"] += 1
            return
        if trade.orderStatus.permId:
            self.ibkr_order_map.bind_perm_id(cid, trade.orderStatus.permId)
        self._apply_trade_status(cid, trade)

    def _apply_trade_status(self, cid: str, trade: Any) -> None:
        status_text = trade.orderStatus.status
        entry = trade.log[-1] if trade.log else None
        code = getattr(entry, "errorCode", 0) or 0
        status = map_order_status(status_text, code)
        if status is None:
            return
        if status is OrderStatus.SUBMITTED:
            order = self.orders.get(cid)
            if order is not None and order.status is OrderStatus.PARTIALLY_FILLED:
                return  # IB calls a partly filled working order "Submitted": nothing new
        reason = None
        if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) and code:
            reason = f"IB error {code}: {self._error_text(entry)}"
        elif status is OrderStatus.REJECTED:
            reason = f"IB order status {status_text}"
        order_id = trade.order.orderId
        self.apply_order_status(cid, status, venue_order_id=str(order_id) if order_id else None,
                                reason=reason)

    @staticmethod
    def _error_text(entry: Any) -> str:
        message = getattr(entry, "message", "") or ""
        # ib_insync prefixes "Error 201, reqId 7: "; keep TWS's own words
        return message.split(": ", 1)[1] if message.startswith(("Error ", "Warning ")) \
            and ": " in message else message

    def _on_exec_details(self, ib: Any, trade: Any, fill: Any) -> None:
        if ib is not self._ib:
            return
        self._apply_execution(fill, live=True)

    def _apply_execution(self, fill: Any, live: bool) -> None:
        execution = fill.execution
        cid = self._client_id_for(execution.orderRef, execution.permId, execution.orderId,
                                  execution.clientId)
        if cid is None:
            self.ib_counters["foreign_executions"] += 1
            return
        report = getattr(fill, "commissionReport", None)
        commission = getattr(report, "commission", 0.0) or 0.0
        core_fill, kind = fill_from_execution(execution, now_ns(), commission)
        if core_fill is None:
            self.record_data_error(kind or "bad_execution", execution.execId)
            return
        self.ibkr_order_map.bind_perm_id(cid, execution.permId)
        self.apply_execution(cid, core_fill)
        if not live:
            self.ib_counters["executions_reconciled"] += 1

    def _on_commission(self, ib: Any, trade: Any, fill: Any, report: Any) -> None:
        if ib is not self._ib:
            return
        execution = fill.execution
        cid = self._client_id_for(execution.orderRef, execution.permId, execution.orderId,
                                  execution.clientId)
        order = self.orders.get(cid) if cid else None
        value = getattr(report, "commission", 0.0)
        if order is None or not isinstance(value, float) or not math.isfinite(value) \
                or abs(value) >= 1e300:
            return
        if order.apply_commission(report.execId, value):
            self.ib_counters["commission_reports"] += 1

    # ================================================================== orders
    def _ib_order(self, order: Order) -> Any:
        mod = self._backend()
        action = order.side.value
        kind = order.order_type
        if kind is OrderType.MARKET:
            ib_order = mod.MarketOrder(action, order.quantity)
        elif kind is OrderType.LIMIT:
            ib_order = mod.LimitOrder(action, order.quantity, order.price)
        elif kind is OrderType.STOP:
            ib_order = mod.StopOrder(action, order.quantity, order.stop_price)
        else:
            ib_order = mod.StopLimitOrder(action, order.quantity, order.price, order.stop_price)
        ib_order.orderType = _IB_ORDER_TYPES[kind]
        ib_order.tif = order.time_in_force.value
        ib_order.orderRef = order.client_order_id
        ib_order.account = order.account or self.settings.account_id
        ib_order.transmit = True
        return ib_order

    def submit_order(self, order: Order) -> None:
        """Place ``order`` (MKT / LMT / STP / STP LMT with its time in force).

        The client order id travels as IB's orderRef; IB's orderId and permId are kept in
        ``ibkr_order_map``.
        """
        cid = order.client_order_id
        try:
            contract = self.qualify(order.symbol)
            ib_order = self._ib_order(order)
            self._pace()
        except NotConnectedError:
            raise
        except (ConnectorError, ValueError) as exc:  # nothing reached TWS: definite
            raise OrderNotSentError(str(exc), order) from exc
        # A ConnectorError from here on: the loop may or may not have sent it (the core
        # flags it unknown outcome; reconciliation tells). NotConnectedError: it did not.
        self._run_sync(self._place_on_loop, cid, contract, ib_order)

    def _place_on_loop(self, cid: str, contract: Any, ib_order: Any) -> int:
        ib = self._live_ib()
        order_id = self.ibkr_order_map.next_order_id(ib.client.getReqId())
        ib.client.updateReqId(order_id + 1)
        ib_order.orderId = order_id
        self.ibkr_order_map.bind_order_id(cid, order_id)
        self.bind_venue_order_id(cid, str(order_id))
        self._trades[cid] = ib.placeOrder(contract, ib_order)
        return order_id

    def submit_cancel(self, order: Order) -> bool:
        """Request cancellation of ``order`` (placed in this session or found in TWS)."""
        self._require_connected()
        self._pace()
        return self._run_sync(self._cancel_on_loop, order.client_order_id)

    def _cancel_on_loop(self, cid: str) -> bool:
        ib = self._live_ib()
        trade = self._trades.get(cid)
        if trade is None or not any(t is trade for t in ib.trades()):
            trade = next((t for t in ib.trades() if t.order.orderRef == cid), None)
        if trade is None:
            return False
        self._trades[cid] = trade
        ib.cancelOrder(trade.order)
        return True

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """Open orders, executions since the oldest of ``orders`` and completed orders,
        applied through the state machine (fills de-duplicated by execId)."""
        if not self.is_connected or self._ib is None:
            return set()
        # One reconciliation at a time: ib_insync keys the open- and completed-orders
        # replies by name, so a second request in flight would orphan the first one's
        # future (the reconnect thread and the unseen-order recheck can overlap).
        if not self._reconcile_lock.acquire(timeout=timeout):
            self.ib_counters["reconcile_busy"] += 1
            return set()
        try:
            if not self.is_connected or self._ib is None:
                return set()
            since = min(o.created_ns for o in orders) / 1e9 - 60.0
            self._pace(3)
            cids = [o.client_order_id for o in orders]
            return self._run(self._reconcile_async, cids, since, timeout,
                             timeout=3 * timeout + 2)
        finally:
            self._reconcile_lock.release()

    async def _reconcile_async(self, cids: list[str], since: float, timeout: float) -> set[str]:
        ib = self._live_ib()
        mod = self._backend()
        wanted = set(cids)
        answered: set[str] = set()
        stamp = datetime.fromtimestamp(since, timezone.utc).strftime("%Y%m%d-%H:%M:%S")
        open_trades = await self._ask(ib, ib.reqOpenOrdersAsync(), timeout)
        fills = await self._ask(ib, ib.reqExecutionsAsync(
            mod.ExecutionFilter(clientId=self.settings.client_id, time=stamp)), timeout)
        completed = await self._ask(ib, ib.reqCompletedOrdersAsync(True), timeout)
        for fill in fills:
            if fill.execution.orderRef in wanted:
                self._apply_execution(fill, live=False)
        for trade in open_trades:
            cid = trade.order.orderRef
            if cid in wanted:
                answered.add(cid)
                self._trades[cid] = trade
                self._bind(cid, trade.order)
                self._apply_trade_status(cid, trade)
        for trade in completed:
            cid = trade.order.orderRef
            if cid in wanted and cid not in answered:
                answered.add(cid)
                self._bind(cid, trade.order)
                self._apply_trade_status(cid, trade)
        recheck: list[str] = []
        for cid in wanted - answered:
            order = self.orders.get(cid)
            if order is None:
                continue
            if order.fills and order.is_terminal:
                answered.add(cid)
                continue
            if not order.fills:
                first_unseen = self._unseen_since.setdefault(cid, time.monotonic())
                if time.monotonic() - first_unseen < self.unknown_order_grace:
                    recheck.append(cid)
                    continue
                # Still unknown to TWS after the grace (no open, completed or executed
                # order): it never arrived, so it is not working anywhere.
                answered.add(cid)
                self.apply_order_status(cid, OrderStatus.REJECTED,
                                        reason="IB has no record of this order (never received)")
        for cid in answered:
            self._unseen_since.pop(cid, None)
        if recheck:
            self.ib_counters["reconcile_rechecks"] += 1
            self._spawn(self._recheck_unseen, "reconcile-recheck")
        self.ib_counters["reconciliations"] += 1
        return answered

    def _recheck_unseen(self) -> None:
        """Reconcile again once the grace has passed (a thread of its own, off the loop)."""
        if self.wait_closing(self.unknown_order_grace) or not self.is_connected:
            return  # closed, or down again: the next reconnect reconciles anyway
        self.reconcile_orders()

