"""Orders of the ``rest`` connector: submission, cancels, the order events each poll brings,
and the venue's answers about each order (reconciliation)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stockfish_core.errors import NotConnectedError
from stockfish_core.orders import Fill, Order, OrderStatus

from stockfish_example_rest.venue_http import HTTPAnswer, VenueUnreachableError

if TYPE_CHECKING:
    from stockfish_core.connector import BaseConnector

    from stockfish_example_rest.connector import _Session

    _Base = BaseConnector
else:
    _Base = object

__all__ = ["ExecutionMixin"]

_STATUS = {"SUBMITTED": OrderStatus.SUBMITTED, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
           "FILLED": OrderStatus.FILLED, "CANCELLED": OrderStatus.CANCELLED,
           "REJECTED": OrderStatus.REJECTED}


class ExecutionMixin(_Base):
    """The order role of :class:`~stockfish_example_rest.connector.RestConnector`."""

    if TYPE_CHECKING:
        _session: _Session | None
        _event_cursor: int

        def _request(self, method: str, path: str, body: Any = None) -> HTTPAnswer: ...

        def _json(self, answer: HTTPAnswer, kind: str) -> Any: ...

    def _poll_events(self, session: _Session) -> None:
        answer = self._request("GET", f"/orders?since={self._event_cursor}")
        data = self._json(answer, "bad_json") if answer.code == 200 else None
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            if answer.code == 200:
                self.record_data_error("bad_events", repr(data)[:200])
            return
        for event in data["events"]:
            if session.stop.is_set():
                return
            self._apply_event(event)
            if isinstance(event, dict) and isinstance(event.get("seq"), int):
                self._event_cursor = max(self._event_cursor, event["seq"])
        # Orders whose send timed out: ask the venue directly rather than wait for a drop.
        unknown = [o for o in self.open_orders() if o.unknown_outcome]
        if unknown:
            self.reconcile_orders(self.settings.request_timeout, unknown)

    def _apply_event(self, event: Any) -> None:
        try:
            cid = event["client_order_id"]
            kind = event["kind"]
            venue_id = event.get("venue_order_id")
        except (KeyError, TypeError):
            self.record_data_error("bad_event", repr(event)[:200])
            return
        if cid not in self.orders:
            return  # another client's order, or one forgotten after it ended
        if kind == "FILL":
            fill = self._fill(event.get("fill"), venue_id)
            if fill is not None:
                self.apply_execution(cid, fill)
        elif kind == "ACK":
            if self.orders[cid].status is OrderStatus.PENDING:
                self.apply_order_status(cid, OrderStatus.SUBMITTED, venue_order_id=venue_id)
        elif kind in ("REJECTED", "CANCELLED"):
            self.apply_order_status(cid, _STATUS[kind], venue_order_id=venue_id,
                                    reason=event.get("reason"))
        else:
            self.record_data_error("unknown_event", str(kind))

    def _fill(self, raw: Any, venue_order_id: str | None) -> Fill | None:
        try:
            fill = Fill(str(raw["exec_id"]), float(raw["quantity"]), float(raw["price"]),
                        int(raw["ts"]), venue_order_id=venue_order_id)
        except (KeyError, TypeError, ValueError):
            self.record_data_error("bad_fill", repr(raw)[:200])
            return None
        if not (fill.quantity > 0 and math.isfinite(fill.price) and fill.price > 0):
            self.record_data_error("bad_fill", repr(raw)[:200])
            return None
        return fill

    # -- orders ---------------------------------------------------------------------------
    def submit_order(self, order: Order) -> None:
        cid = order.client_order_id
        body = {"client_order_id": cid, "symbol": order.symbol, "side": order.side.value,
                "quantity": order.quantity, "order_type": order.order_type.value,
                "price": order.price, "time_in_force": order.time_in_force.value}
        try:
            answer = self._request("POST", "/orders", body)
        except VenueUnreachableError as exc:
            if exc.delivered is False:  # refused: the venue certainly never saw it
                raise NotConnectedError(f"{self.name}: {exc}") from None
            raise  # timed out or 5xx: it may be working; the core flags it, never resends
        if answer.code != 200:
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason=f"venue refused the request: HTTP {answer.code}")
            return
        state = self._json(answer, "bad_order_reply")
        if not isinstance(state, dict):
            raise VenueUnreachableError("unreadable answer to the order", delivered=None)
        self._apply_state(cid, state)

    def _apply_state(self, cid: str, state: dict[str, Any]) -> None:
        """Apply the venue's full view of one order: fills first, then the status."""
        venue_id = state.get("venue_order_id")
        for raw in state.get("fills") or ():
            fill = self._fill(raw, venue_id)
            if fill is not None:
                self.apply_execution(cid, fill)
        status = _STATUS.get(str(state.get("status")))
        order = self.orders.get(cid)
        if status is None or order is None:
            return
        if status is OrderStatus.SUBMITTED and order.status is not OrderStatus.PENDING:
            if venue_id:
                self.bind_venue_order_id(cid, venue_id)
            return
        if status in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            return  # follows from the fills applied above
        self.apply_order_status(cid, status, venue_order_id=venue_id, reason=state.get("reason"))

    def submit_cancel(self, order: Order) -> bool:
        if self._session is None:
            raise NotConnectedError(f"{self.name}: not connected ({self.status.value})")
        try:
            answer = self._request("DELETE", f"/orders/{quote(order.client_order_id)}")
        except VenueUnreachableError as exc:
            raise NotConnectedError(f"{self.name}: cancel not sent: {exc}") from None
        state = self._json(answer, "bad_cancel_reply") if answer.code in (200, 409) else None
        if isinstance(state, dict):
            self._apply_state(order.client_order_id, state)
        return answer.code == 200

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        answered: set[str] = set()
        for order in orders:
            cid = order.client_order_id
            try:
                answer = self._request("GET", f"/orders/{quote(cid)}")
            except VenueUnreachableError:
                break  # the venue went again; the next reconnect asks again
            if answer.code == 404:
                self.apply_order_status(cid, OrderStatus.REJECTED,
                                        reason="the venue never received this order")
                answered.add(cid)
                continue
            state = self._json(answer, "bad_order_state") if answer.code == 200 else None
            if isinstance(state, dict):
                self._apply_state(cid, state)
                answered.add(cid)
        return answered


