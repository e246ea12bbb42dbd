"""Execution: orders on the wire (submit, cancel), TWS's order events and executions, the
effect of each order error code, recovery of what TWS's pacing dropped, and the order ids.

Whose word counts. ib_insync and ib_async turn an error on an order into a local status
(ib_insync: Cancelled for any code but its few warnings, also when TWS still works the
order; ib_async: ValidationError) and ``cancelOrder`` sets PendingCancel locally: none of
that is TWS speaking. Those local statuses are ignored here; the error table
(:mod:`stockfish_ibkr.error_codes`) decides what an error does to the order, and only
TWS's own orderStatus / openOrder messages move it otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
from stockfish_core.errors import (
    ConnectorError,
    NotConnectedError,
    OrderNotSentError,
    OrderRejectedError,
)
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus, OrderType

from stockfish_ibkr.error_codes import TWS_ERRORS, Effect, ErrorRule
from stockfish_ibkr.normalize import fill_from_execution, map_order_status
from stockfish_ibkr.order_map import PERM_ID, IBKROrderMap
from stockfish_ibkr.session import SessionMixin

__all__ = ["ExecutionMixin"]

log = logging.getLogger(__name__)

_IB_ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
                   OrderType.STOP_LIMIT: "STP LMT"}
#: TWS's pacing window: a request it dropped for pacing goes again after this.
PACING_WINDOW = 1.05


class _CancelRequest:
    """One cancel of one order in flight. Settled on the loop thread: True (TWS took it:
    PendingCancel / Cancelled), False (refused, dropped every time, or the order ended
    otherwise), None (no answer: the session ended); waited for on the caller's thread."""

    __slots__ = ("_done", "attempts", "outcome")

    def __init__(self) -> None:
        self.attempts = 0
        self.outcome: bool | None = None
        self._done = threading.Event()

    def settle(self, outcome: bool | None) -> None:
        if not self._done.is_set():
            self.outcome = outcome
            self._done.set()

    def wait(self, timeout: float) -> bool | None:
        self._done.wait(timeout)
        return self.outcome


class ExecutionMixin(SessionMixin):
    """The execution role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        def qualify(self, symbol: str) -> Any: ...

        def _verify_later(self, cid: str, why: str) -> None: ...

        def _lookup_orders(self, orders: list[Order], timeout: float
                           ) -> tuple[set[str], set[str]] | None: ...

        def _adopt_trade(self, trade: Any, reason: str) -> str | None: ...

        def _adopt_execution(self, fill: Any, trade: Any) -> str | None: ...

        def _cancel_refusal(self, order: Order) -> str | None: ...

    def _init_execution(self) -> None:
        self.ibkr_order_map = IBKROrderMap()
        self._trades: dict[str, Any] = {}  # client order id -> ib Trade
        # Orders whose placeOrder TWS has not answered yet: client order id -> order id.
        self._placing: dict[str, int] = {}
        self._acked: set[str] = set()  # orders TWS acknowledged (a status of its own)
        self._order_errors: dict[str, tuple[int, str]] = {}  # last TWS error on an order
        self._cancels: dict[str, _CancelRequest] = {}
        self._dropped: dict[str, int] = {}  # times TWS's pacing dropped an order's placement
        self._recovering: set[str] = set()  # dropped orders being checked and placed again
        self._cancel_wanted: set[str] = set()  # cancelled while its placement was dropped
        self._lost_orders: set[str] = set()  # acknowledged orders TWS no longer lists
        self._local_calls = 0  # >0 while we call the library (its events are not TWS's)
        self._tws_next_valid_id = 0  # what TWS said at the last logon
        self._tws_id_mark = 0  # the highest order id TWS took (not refused, not dropped)

    # ================================================================== order events
    def _client_id_for(self, order_ref: Any, perm_id: Any, order_id: Any,
                       client_id: Any = None) -> str | None:
        """Our client order id for an order TWS reports: by permId, by orderRef, by an
        order id this client assigned."""
        omap = self.ibkr_order_map
        if isinstance(perm_id, int) and perm_id > 0:
            cid = omap.by_perm_id(perm_id)
            if cid is not None:
                return cid
        if isinstance(order_ref, str) and order_ref in self.orders:
            return order_ref
        if isinstance(order_id, int) and order_id > 0 and client_id in (None,
                                                                        self.settings.client_id):
            return omap.by_order_id(order_id)
        return None

    def _bind(self, cid: str, order: Any) -> None:
        self._bind_perm(cid, getattr(order, "permId", 0) or 0)

    def _bind_perm(self, cid: str, perm_id: Any) -> None:
        """Keep ``perm_id`` as ``cid``'s permId, journaled with the order (a restarted
        process finds the order at TWS by it)."""
        if not isinstance(perm_id, int) or perm_id <= 0:
            return
        if self.ibkr_order_map.bind_perm_id(cid, perm_id):
            self.ib_counters["perm_ids_bound"] += 1
            order = self.orders.get(cid)
            if order is not None:
                self.remember_venue_ref(order, PERM_ID, str(perm_id))

    def _from_tws(self, trade: Any) -> bool:
        """Whether ``trade``'s latest status is TWS's, not the library's own reaction to
        our call or to an error."""
        if self._local_calls:
            return False
        entry = trade.log[-1] if trade.log else None
        return not getattr(entry, "errorCode", 0)

    @contextlib.contextmanager
    def _library_call(self) -> Iterator[None]:
        """Around our own calls into the library (loop thread): the status events they
        raise at once are the library's guesses."""
        self._local_calls += 1
        try:
            yield
        finally:
            self._local_calls -= 1

    def _on_open_order(self, ib: Any, trade: Any) -> None:
        if ib is not self._ib:
            return
        order = trade.order
        cid = self._client_id_for(order.orderRef, order.permId, order.orderId, order.clientId)
        if cid is None:
            if self.read_only or trade.isDone():
                self.ib_counters["foreign_orders"] += 1
                return
            cid = self._adopt_trade(trade, "TWS reported a working order this connector "
                                           "did not place")
            if cid is None:
                return
        self._bind(cid, order)
        self._trades[cid] = trade
        if self._from_tws(trade):
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
        if not self._from_tws(trade):
            return
        self._bind_perm(cid, trade.orderStatus.permId)
        filled = trade.orderStatus.filled
        cum = float(filled) if isinstance(filled, (int, float)) and math.isfinite(filled) \
            and filled >= 0 else None
        self._apply_trade_status(cid, trade, cum_qty=cum)

    def _apply_trade_status(self, cid: str, trade: Any, *, cum_qty: float | None = None) -> None:
        """Apply a status TWS reported for one of our orders."""
        order = self.orders.get(cid)
        if order is None:
            return
        status_text = trade.orderStatus.status
        self._acknowledged(cid)
        if cid in self._lost_orders:
            self._verify_later(cid, "TWS reports an order it had lost")
        if status_text == "PendingCancel":
            self._settle_cancel(cid, True)  # TWS took the cancel; Cancelled follows
            return
        error = self._order_errors.get(cid)
        code = error[0] if error else 0
        status = map_order_status(status_text, code)
        if status is None:
            return
        if order.is_terminal and (status is order.status or not status.is_terminal):
            # A report older than what we know (an openOrder re-sent after the fill that
            # already made the order FILLED): nothing new.
            self.ib_counters["stale_status_reports"] += 1
            return
        if status is OrderStatus.SUBMITTED and order.status is OrderStatus.PARTIALLY_FILLED:
            return  # IB calls a partly filled working order "Submitted": nothing new
        reason = None
        if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) and error:
            reason = f"IB error {code}: {error[1]}"
        elif status is OrderStatus.REJECTED:
            reason = f"IB order status {status_text}"
        order_id = trade.order.orderId
        # An external order's venue id is its permId: its orderId is another client's.
        venue_id = str(order_id) if order_id and not order.external else None
        self.apply_order_status(cid, status, venue_order_id=venue_id, reason=reason,
                                cum_qty=cum_qty)
        self._after_report(cid)

    def _acknowledged(self, cid: str) -> None:
        """TWS spoke about this order: its placement was received."""
        self._placing.pop(cid, None)
        self._acked.add(cid)
        ids = self.ibkr_order_map.ids(cid)
        if ids is not None and ids[0] > self._tws_id_mark:
            self._tws_id_mark = ids[0]

    def _is_acked(self, cid: str, order: Order) -> bool:
        """Whether TWS ever acknowledged ``order`` (a status of its own, a permId, a fill)."""
        ids = self.ibkr_order_map.ids(cid)
        return cid in self._acked or bool(ids and ids[1]) or bool(order.fills)

    def _after_report(self, cid: str) -> None:
        """Once an order is final: settle a cancel in flight, forget per-order state."""
        order = self.orders.get(cid)
        if order is None or not order.is_terminal:
            return
        self._settle_cancel(cid, order.status is OrderStatus.CANCELLED)
        for table in (self._placing, self._order_errors, self._dropped, self._trades):
            table.pop(cid, None)
        self._acked.discard(cid)
        self._cancel_wanted.discard(cid)
        self._lost_orders.discard(cid)

    def _on_exec_details(self, ib: Any, trade: Any, fill: Any) -> None:
        if ib is not self._ib:
            return
        self._apply_execution(fill, live=True)

    def _apply_execution(self, fill: Any, live: bool) -> None:
        """A live execution (or one of TWS's lists): applied to our order, or to the
        external order it is adopted into."""
        execution = fill.execution
        cid = self._client_id_for(execution.orderRef, execution.permId, execution.orderId,
                                  execution.clientId)
        if cid is None:
            cid = self._adopt_execution(fill, None)
            if cid is None:
                return
        self._apply_fill_to(cid, fill, live)

    def _apply_fill_to(self, cid: str, fill: Any, live: bool) -> None:
        execution = fill.execution
        report = getattr(fill, "commissionReport", None)
        commission = getattr(report, "commission", 0.0) or 0.0
        core_fill, kind = fill_from_execution(execution, now_ns(), commission)
        if core_fill is None:
            self.record_data_error(kind or "bad_execution", execution.execId)
            return
        order = self.orders.get(cid)
        if order is not None and order.external:
            # Its orderId is another client's: the venue id of an external order is its permId.
            core_fill = attrs.evolve(core_fill, venue_order_id=order.order_id)
        self._bind_perm(cid, execution.permId)
        self._acknowledged(cid)
        self.apply_execution(cid, core_fill)
        self._after_report(cid)
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

    # ================================================================== errors on orders
    def _order_for_error(self, req_id: int) -> str | None:
        """Our order an error names (its id is one this connector assigned), if any."""
        return self.ibkr_order_map.by_order_id(req_id) if req_id > 0 else None

    def _order_error(self, cid: str, req_id: int, rule: ErrorRule, code: int,
                     text: str) -> None:
        """What TWS error ``code`` does to our order ``cid`` (loop thread); see the table
        in :mod:`stockfish_ibkr.error_codes`."""
        order = self.orders.get(cid)
        if order is None:
            return
        reason = f"IB error {code}: {text}"
        effect = rule.effect
        if effect is Effect.RETRY:
            self._dropped_by_pacing(cid, order, req_id, reason)
        elif effect is Effect.CANCEL_REFUSED:
            self._cancel_refused(cid, reason)
        elif effect is Effect.ORDER_CANCELLED:
            self._order_errors[cid] = (code, text)
            self._placing.pop(cid, None)
            self.apply_order_status(cid, OrderStatus.CANCELLED, reason=reason)
            self._after_report(cid)
        elif effect in (Effect.REJECT_ORDER, Effect.REQUEST_REFUSED):
            self._order_errors[cid] = (code, text)
            if self._placing.get(cid) == req_id and not self._is_acked(cid, order):
                # TWS answered our placeOrder with a refusal: the order was never working.
                del self._placing[cid]
                self.apply_order_status(cid, OrderStatus.REJECTED, reason=reason)
                self._after_report(cid)
            else:
                # TWS already works this order: it refused a change, or ends the order with
                # a status of its own. Ask it rather than guess.
                self._verify_later(cid, reason)
        elif code not in TWS_ERRORS:
            log.warning("%s: order %s: %s (not in the error table): asking TWS for its state",
                        self.name, cid, reason)
            self._verify_later(cid, reason)
        else:
            log.info("%s: order %s: %s (%s); the order stands", self.name, cid, reason,
                     rule.meaning)

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
        try:
            # Raising the high-water mark journals it (synchronously) before the wire.
            order_id = self.ibkr_order_map.next_order_id(ib.client.getReqId())
        except Exception as exc:
            order = self.orders.get(cid)
            raise OrderNotSentError(f"the order id could not be journaled: {exc}",
                                    order) from exc
        ib.client.updateReqId(order_id + 1)
        ib_order.orderId = order_id
        self.ibkr_order_map.bind_order_id(cid, order_id)
        self.bind_venue_order_id(cid, str(order_id))
        self._placing[cid] = order_id
        with self._library_call():
            self._trades[cid] = ib.placeOrder(contract, ib_order)
        return order_id

    def load_order_id_high_water_mark(self, mark: int) -> None:
        """Restore the order-id high-water mark saved by an earlier process (call before
        ``connect``): no new order id is at or below it. Save it from
        ``ibkr_order_map.on_high_water_mark``, which is called each time it rises."""
        self.ibkr_order_map.load_high_water_mark(mark)
        self._tws_id_mark = max(self._tws_id_mark, mark)

    def _on_next_valid_id(self, order_id: int) -> None:
        """TWS's nextValidId (the EWrapper callback; the libraries do nothing with it but
        seed their request ids)."""
        self._tws_next_valid_id = order_id

    # ------------------------------------------------------------------ cancels
    def submit_cancel(self, order: Order) -> bool:
        """Request cancellation of ``order`` and wait (up to ``request_timeout``) for TWS's
        answer: True once TWS took it (PendingCancel / Cancelled), or when no answer came
        in time (the outcome then comes as events); False when TWS refused it (161, 10147,
        10148: the order is already final or unknown to TWS, a ``cancel_rejected`` event
        says which), when its pacing dropped it every time, or when the order filled
        first. A cancel TWS dropped for pacing (100) is sent again after the window."""
        refusal = self._cancel_refusal(order)
        if refusal is not None:
            raise OrderRejectedError(f"{self.name}: {refusal}", order)
        self._require_connected()
        self._pace()
        request = self._run_sync(self._cancel_on_loop, order.client_order_id)
        if request is None:
            return False
        outcome = request.wait(self.settings.request_timeout)
        if outcome is None:
            log.info("%s: no answer from TWS yet to the cancel of %s", self.name,
                     order.client_order_id)
            return True
        return outcome

    def _cancel_on_loop(self, cid: str) -> _CancelRequest | None:
        ib = self._live_ib()
        if cid in self._recovering:
            # TWS does not have it (its pacing dropped the placement) and now never will.
            self._cancel_wanted.add(cid)
            done = _CancelRequest()
            done.settle(True)
            return done
        trade = self._trades.get(cid)
        if trade is None or not any(t is trade for t in ib.trades()):
            trade = self._find_trade(ib, cid)
        if trade is None:
            return None
        self._trades[cid] = trade
        request = self._cancels.get(cid)
        if request is None:
            request = self._cancels[cid] = _CancelRequest()
        self._send_cancel(ib, cid, trade)
        return request

    def _find_trade(self, ib: Any, cid: str) -> Any:
        """The session's trade of our order ``cid`` (by permId when TWS gave one, else by
        orderRef), a working one first."""
        ids = self.ibkr_order_map.ids(cid)
        perm = ids[1] if ids else 0
        done = None
        for trade in ib.trades():
            if (trade.order.permId == perm) if perm else (trade.order.orderRef == cid):
                if not trade.isDone():
                    return trade
                done = done or trade
        return done

    def _send_cancel(self, ib: Any, cid: str, trade: Any) -> None:
        request = self._cancels[cid]
        request.attempts += 1
        self._order_errors.pop(cid, None)  # the Cancelled that follows is this cancel's
        with self._library_call():
            ib.cancelOrder(trade.order)

    def _settle_cancel(self, cid: str, outcome: bool | None) -> None:
        request = self._cancels.pop(cid, None)
        if request is not None:
            request.settle(outcome)

    def _cancel_refused(self, cid: str, reason: str) -> None:
        """161 / 10147 / 10148 / 135: the order keeps its state; TWS is asked for it (the
        cancel may have met a fill, or TWS may have lost the order)."""
        self._settle_cancel(cid, False)
        self.reject_cancel(cid, reason)
        self._verify_later(cid, reason)

    def _settle_all_cancels(self) -> None:
        """The session ended: cancels in flight get no answer from it."""
        for cid in list(self._cancels):
            self._settle_cancel(cid, None)

    # ------------------------------------------------------------------ pacing recovery
    def _dropped_by_pacing(self, cid: str, order: Order, req_id: int, reason: str) -> None:
        """Error 100 on one of our orders: TWS dropped its placeOrder or its cancelOrder
        unprocessed (TWS answers in order, so the placement, if still unanswered, is what
        it dropped)."""
        self.ib_counters["pacing_violations"] += 1
        if self._placing.get(cid) == req_id and not self._is_acked(cid, order):
            del self._placing[cid]
            self._dropped[cid] = self._dropped.get(cid, 0) + 1
            self.ib_counters["orders_dropped_by_pacing"] += 1
            self._recovering.add(cid)
            self.order_event("pacing_retry", order, reason=(
                f"{reason}: TWS dropped the order unplaced; it is placed again after the "
                f"pacing window once TWS's open orders show it is not there"))
            self._spawn(lambda: self._recover_dropped(cid), "pacing-recovery")
        elif cid in self._cancels:
            self._cancel_dropped(cid, order, reason)
        else:
            log.warning("%s: %s on order %s, which has nothing in flight", self.name, reason,
                        cid)

    def _cancel_dropped(self, cid: str, order: Order, reason: str) -> None:
        request = self._cancels[cid]
        self.ib_counters["cancels_dropped_by_pacing"] += 1
        if request.attempts > self.settings.pacing_retries:
            self._settle_cancel(cid, False)
            self.reject_cancel(cid, f"{reason}: TWS's pacing dropped the cancel "
                                    f"{request.attempts} times; the order may still work")
            return
        self.order_event("pacing_retry", order, reason=(
            f"{reason}: TWS dropped the cancel; sent again after the pacing window"))
        ib = self._ib
        asyncio.get_running_loop().call_later(PACING_WINDOW, self._retry_cancel, ib, cid)

    def _retry_cancel(self, ib: Any, cid: str) -> None:
        trade = self._trades.get(cid)
        if ib is not self._ib or cid not in self._cancels or trade is None:
            return  # the session ended (cancels settled), or the order ended meanwhile
        self._send_cancel(ib, cid, trade)

    def _recover_dropped(self, cid: str) -> None:
        """After the pacing window: place a dropped order again, only once TWS's open
        orders, completed orders and executions show it does not have it (thread)."""
        try:
            if self.wait_closing(PACING_WINDOW):
                return
            order = self.orders.get(cid)
            if order is None or order.is_terminal:
                return
            try:
                listed = self._lookup_orders([order], self.settings.request_timeout)
            except ConnectorError as exc:
                listed = None
                log.info("%s: order %s dropped by pacing, not checked: %s", self.name, cid, exc)
            if listed is None:
                return  # not asked (down): reconciliation after the reconnect decides
            if cid in listed[0] or order.is_terminal or self._is_acked(cid, order):
                return  # TWS had it after all: its own report stands
            contract = self.qualify(order.symbol)
            ib_order = self._ib_order(order)
            self._pace()
            self._run_sync(self._place_again_on_loop, cid, contract, ib_order)
        finally:
            self._recovering.discard(cid)

    def _place_again_on_loop(self, cid: str, contract: Any, ib_order: Any) -> None:
        order = self.orders.get(cid)
        if order is None or order.is_terminal:
            return
        drops = self._dropped.get(cid, 0)
        why = None
        if cid in self._cancel_wanted:
            why = "a cancel was requested meanwhile"
        elif drops > self.settings.pacing_retries:
            why = f"TWS dropped it {drops} times"
        if why is not None:
            self.apply_order_status(cid, OrderStatus.REJECTED, reason=(
                f"IB error 100: not placed: TWS's pacing dropped the order and {why}"))
            self._after_report(cid)
            return
        order_id = self._place_on_loop(cid, contract, ib_order)
        self.ib_counters["orders_placed_again"] += 1
        self.order_event("pacing_retry", order, reason=(
            f"placed again as order id {order_id}: TWS had dropped it (error 100) and its "
            f"open orders showed it was not there"))
