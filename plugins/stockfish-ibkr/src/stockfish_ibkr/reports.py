"""What TWS lists (open orders, completed orders, executions), applied to our orders; what
matches none of them is adopted as an external order, never dropped.

Matching: permId first, then orderRef (our client order id), then an order id this client
assigned (:meth:`~stockfish_ibkr.execution.ExecutionMixin._client_id_for`). Fills are
applied once each (execId).

External orders are orders TWS works or executed that this process did not send: placed by
hand in TWS (client 0), by another API client, or by this client id before the journal
existed (or in a run whose journal was lost). Each is tracked under the client order id
``IB-<permId>`` with the permId as its venue order id, flagged ``external`` (an
``external_order`` event; its fills are ``external_fill`` events) and journaled, so that
a restart matches it again by permId. An execution the journal already holds (an order
that ended in an earlier run) is not adopted again.

Cancelling an external order: TWS's cancelOrder names an order by an id in the sending
client's own id space, so a cancel of another client's order id could cancel one of ours.
The connector cancels an external order only when TWS lets this client do so: an order of
this client id, or (as client 0) a manual order TWS bound to client 0; any other is
refused with the reason (cancel it in TWS or from its own client). ``reqGlobalCancel`` is
never sent.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import UnknownOrderError
from stockfish_core.orders import Order, OrderSide, OrderType, TimeInForce, check_identifier

from stockfish_ibkr.execution import ExecutionMixin
from stockfish_ibkr.order_map import PERM_ID

__all__ = ["EXTERNAL_PREFIX", "ReportsMixin", "external_order_id"]

log = logging.getLogger(__name__)

#: Client order ids of external orders are this prefix and the order's permId.
EXTERNAL_PREFIX = "IB-"
_TYPES = {"MKT": OrderType.MARKET, "LMT": OrderType.LIMIT, "STP": OrderType.STOP,
          "STP LMT": OrderType.STOP_LIMIT}
_QTY_EPS = 1e-9


def external_order_id(perm_id: int, client_id: int = 0, order_id: int = 0) -> str:
    """The client order id an external order is tracked under."""
    if perm_id > 0:
        return f"{EXTERNAL_PREFIX}{perm_id}"
    return f"{EXTERNAL_PREFIX}{client_id}-{order_id}"


def _price(value: Any) -> float | None:
    """An IB price, or None for IB's "unset" (1.7976931348623157E308) and nonsense."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0.0 < value < 1e300 else None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def _clean(value: Any) -> str | None:
    """``value`` as a tag or symbol if it is a clean identifier, else None."""
    text = "".join(str(value).split()) if value is not None else ""
    try:
        check_identifier("value", text)
    except ValueError:
        return None
    return text


class ReportsMixin(ExecutionMixin):
    """Applying TWS's lists, and external orders (part of the execution role of
    :class:`~stockfish_ibkr.connector.IBKRConnector`)."""

    if TYPE_CHECKING:  # provided by the contract role
        def _symbol_of(self, contract: Any) -> str: ...

    def _apply_reports(self, open_trades: list[Any], completed: list[Any], fills: list[Any],
                       wanted: set[str] | None) -> tuple[set[str], set[str]]:
        """Apply what TWS listed (loop thread): executions first (each once), then the
        statuses of open and completed orders. Only our orders in ``wanted`` (all of ours
        when None) are changed; anything that is none of ours is adopted. Returns the
        client order ids TWS listed as open or completed, and those of them whose fills
        are not all here (TWS counts more filled than we hold)."""
        by_perm: dict[int, Any] = {}
        for trade in (*completed, *open_trades):  # an open order's trade wins
            perm = _int(trade.order.permId)
            if perm > 0:
                by_perm[perm] = trade
        cum_by_perm: dict[int, float] = {}
        for fill in fills:
            perm, most = _int(fill.execution.permId), _filled(fill.execution.cumQty) or 0.0
            cum_by_perm[perm] = max(cum_by_perm.get(perm, 0.0), most)
        journaled: dict[str, Order | None] = {}
        adopted: set[str] = set()  # adopted in this pass: everything TWS says applies
        for fill in fills:
            execution = fill.execution
            cid = self._client_id_for(execution.orderRef, execution.permId,
                                      execution.orderId, execution.clientId)
            if cid is None:
                perm = _int(execution.permId)
                cid = self._adopt_execution(fill, by_perm.get(perm), journaled,
                                            cum_by_perm.get(perm))
                if cid is None:
                    continue
                adopted.add(cid)
            elif wanted is not None and cid not in wanted and cid not in adopted:
                continue
            order = self.orders.get(cid)
            if order is not None and order.has_fill(execution.execId):
                continue  # a list repeats what we hold: not a duplicate the venue sent
            self._apply_fill_to(cid, fill, live=False)
        found: set[str] = set()
        short: set[str] = set()
        for trade in open_trades:
            cid = self._match_trade(trade)
            if cid is None:
                cid = self._adopt_trade(trade, "TWS works an order this connector did not "
                                               "place")
                if cid is None:
                    continue
                adopted.add(cid)
            elif wanted is not None and cid not in wanted and cid not in adopted:
                continue
            found.add(cid)
            if self._settled(cid):
                continue
            self._trades[cid] = trade
            self._bind(cid, trade.order)
            # The trade's status now may be the library's reaction to an error that came
            # after TWS listed it (a dropped cancel: "Cancelled"): TWS listed it as open,
            # and its own statuses were applied as they came.
            if self._from_tws(trade):
                self._apply_trade_status(cid, trade, cum_qty=_filled(trade.orderStatus.filled))
            else:
                self._acknowledged(cid)
            if self._fills_missing(cid, _filled(trade.orderStatus.filled)):
                short.add(cid)
        for trade in completed:
            cid = self._match_trade(trade)
            if cid is None:  # ended without a fill we can see (or one of an earlier run)
                continue
            if cid in found or (wanted is not None and cid not in wanted
                                and cid not in adopted):
                continue
            found.add(cid)
            if self._settled(cid):
                continue
            self._bind(cid, trade.order)
            cum = _filled(getattr(trade.order, "filledQuantity", None))
            self._apply_trade_status(cid, trade, cum_qty=cum)
            if self._fills_missing(cid, cum):
                short.add(cid)
        return found, short

    def _settled(self, cid: str) -> bool:
        """Ended, with nothing in doubt: a list repeating it changes nothing."""
        order = self.orders.get(cid)
        return order is not None and order.is_terminal and not order.unknown_outcome

    def _match_trade(self, trade: Any) -> str | None:
        order = trade.order
        return self._client_id_for(order.orderRef, order.permId, order.orderId, order.clientId)

    def _fills_missing(self, cid: str, cum_qty: float | None) -> bool:
        """Whether TWS counts more of ``cid`` filled than the fills we hold (executions we
        cannot see: another day's, another client's): its outcome stays unknown."""
        order = self.orders.get(cid)
        if order is None or cum_qty is None or cum_qty <= order.filled_quantity + _QTY_EPS:
            return False
        reason = (f"TWS counts {cum_qty:g} filled, and this connector holds fills for "
                  f"{order.filled_quantity:g}: TWS did not report the other executions")
        if not self.mark_order_unknown(order, reason):
            log.warning("%s: order %s: %s", self.name, cid, reason)
        return True

    # ------------------------------------------------------------------ adoption
    def _adopt_trade(self, trade: Any, reason: str,
                     execution: Any = None) -> str | None:
        """Track an order TWS reports that none of ours matches; its client order id.
        A completed order carries no client and order id: ``execution``'s say them."""
        ib_order = trade.order
        perm = _int(ib_order.permId)
        source = execution if execution is not None and not _int(ib_order.clientId) \
            else ib_order
        client_id, order_id = _int(source.clientId), _int(source.orderId)
        cid = external_order_id(perm, client_id, order_id)
        if cid in self.orders:
            return cid
        order = self._external_order(cid, trade.contract, ib_order, (perm, client_id, order_id))
        if order is None:
            return None
        who = "placed by hand in TWS" if client_id == 0 else f"of API client {client_id}"
        return self._adopt(order, perm, client_id, order_id, f"{reason} ({who})")

    def _adopt_execution(self, fill: Any, trade: Any,
                         journaled: dict[str, Order | None] | None = None,
                         cum_qty: float | None = None) -> str | None:
        """Track the order of an execution none of ours matches (unless the journal holds
        that execution already: an order that ended in an earlier run). Without the
        order's trade, its quantity is the most TWS reported filled (``cum_qty``)."""
        execution = fill.execution
        perm = _int(execution.permId)
        exec_id = execution.execId
        ref = execution.orderRef if isinstance(execution.orderRef, str) else ""
        for cid in (ref, external_order_id(perm)):
            old = self._journaled_order(cid, journaled)
            if old is not None and old.has_fill(exec_id):
                return None
        self.ib_counters["foreign_executions"] += 1
        if trade is not None:
            return self._adopt_trade(trade, "TWS reported an execution of an order this "
                                            "connector did not place", execution)
        client_id, order_id = _int(execution.clientId), _int(execution.orderId)
        cid = external_order_id(perm, client_id, order_id)
        if cid in self.orders:
            return cid
        side = OrderSide.BUY if str(execution.side).upper() in ("BOT", "BUY") \
            else OrderSide.SELL
        quantity = cum_qty or _filled(execution.cumQty) or _filled(execution.shares)
        symbol = _clean(self._symbol_of(fill.contract)) or _clean(fill.contract.symbol)
        if not quantity or symbol is None:
            self.record_data_error("bad_execution", exec_id)
            return None
        try:
            order = Order(symbol, side, quantity, client_order_id=cid,
                          order_id=str(perm) if perm else None,
                          venue_refs={PERM_ID: str(perm)} if perm else {},
                          tags=_tags(client_id, order_id, perm, "", ref))
        except ValueError as exc:
            self.record_data_error("bad_execution", f"{exec_id}: {exc}")
            return None
        return self._adopt(order, perm, client_id, order_id, (
            "TWS reported an execution of an order it no longer lists, which this "
            "connector did not place"))

    def _journaled_order(self, cid: str, cache: dict[str, Order | None] | None
                         ) -> Order | None:
        """This connector's order ``cid`` as the journal holds it (None without one)."""
        journal = self.journal
        if not cid or journal is None:
            return None
        if cache is not None and cid in cache:
            return cache[cid]
        try:
            old = journal.find(cid)
        except Exception as exc:  # a journal that cannot answer: adopt rather than drop
            log.warning("%s: the journal could not be asked about %s: %s", self.name, cid,
                        exc)
            old = None
        if old is not None and (old.client_order_id != cid or old.connector != self.name):
            old = None
        if cache is not None:
            cache[cid] = old
        return old

    def _external_order(self, cid: str, contract: Any, ib_order: Any,
                        ids: tuple[int, int, int]) -> Order | None:
        """Our model of an order TWS reports (None, counted, when it makes no sense);
        ``ids``: its permId, client id and order id."""
        perm, client_id, order_id = ids
        action = str(ib_order.action).upper()
        quantity = _filled(ib_order.totalQuantity)
        symbol = _clean(self._symbol_of(contract)) or _clean(contract.symbol)
        if action not in ("BUY", "SELL") or not quantity or symbol is None:
            self.record_data_error("bad_external_order", cid)
            return None
        raw_type = str(ib_order.orderType)
        kind = _TYPES.get(raw_type)
        limit, stop = _price(ib_order.lmtPrice), _price(ib_order.auxPrice)
        if kind is None or (kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None) \
                or (kind in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None):
            # A type the core has no name for (TRAIL, REL, ...): kept in the tags.
            kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
            stop = None
        if kind in (OrderType.MARKET, OrderType.STOP):
            limit = None
        if kind in (OrderType.MARKET, OrderType.LIMIT):
            stop = None
        tif = str(ib_order.tif).upper()
        ref = ib_order.orderRef if isinstance(ib_order.orderRef, str) else ""
        try:
            return Order(symbol, OrderSide(action), quantity, kind, price=limit, stop_price=stop,
                         time_in_force=TimeInForce(tif) if tif in TimeInForce.__members__
                         else TimeInForce.DAY, client_order_id=cid,
                         order_id=str(perm) if perm else None,
                         venue_refs={PERM_ID: str(perm)} if perm else {},
                         tags=_tags(client_id, order_id, perm, raw_type, ref))
        except ValueError as exc:
            self.record_data_error("bad_external_order", f"{cid}: {exc}")
            return None

    def _adopt(self, order: Order, perm: int, client_id: int, order_id: int,
               reason: str) -> str:
        cid = order.client_order_id
        tracked = self.adopt_external_order(order, reason)
        if perm:
            self.ibkr_order_map.bind_perm_id(cid, perm)
        if client_id == self.settings.client_id and order_id:
            # An id of this client (cancels and errors name it): one TWS took.
            self.ibkr_order_map.bind_order_id(cid, order_id)
            self._tws_id_mark = max(self._tws_id_mark, order_id)
        self._acked.add(cid)
        self.ib_counters["orders_adopted"] += 1
        return tracked.client_order_id

    def _cancel_refusal(self, order: Order) -> str | None:
        """Why TWS would not let this client cancel ``order`` (None: it would)."""
        if not order.external:
            return None
        client_id = _int(order.tags.get("ib_client_id"))
        order_id = _int(order.tags.get("ib_order_id"))
        if client_id == self.settings.client_id and order_id:
            return None
        cid = order.client_order_id
        if client_id == 0:
            return (f"{cid} was placed by hand in TWS: an API client can cancel it only as "
                    f"client 0 once TWS bound it to client 0; cancel it in TWS")
        return (f"{cid} was placed by API client {client_id}: TWS lets only that client "
                f"cancel it (a cancel names the order by the sender's own order ids); cancel "
                f"it there or in TWS")

    def find_order(self, order_id: str) -> Order:
        """An order this connector holds, by client order id, venue order id (IB orderId;
        an external order's permId) or IB permId."""
        try:
            return super().find_order(order_id)
        except UnknownOrderError:
            if isinstance(order_id, str) and order_id.isdigit():
                cid = self.ibkr_order_map.by_perm_id(int(order_id))
                order = self.orders.get(cid) if cid else None
                if order is not None:
                    return order
            raise


def _filled(value: Any) -> float | None:
    """A quantity from IB (None when unset or nonsense)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    return float(value) if math.isfinite(value) and 0 <= value < 1e300 else None


def _tags(client_id: int, order_id: int, perm: int, order_type: str,
          order_ref: str) -> dict[str, str]:
    tags = {"ib_client_id": str(client_id), "ib_order_id": str(order_id),
            "ib_perm_id": str(perm)}
    if order_type and order_type not in _TYPES and _printable(order_type):
        tags["ib_order_type"] = order_type
    if order_ref and _printable(order_ref):
        tags["ib_order_ref"] = order_ref
    return tags


def _printable(text: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)

