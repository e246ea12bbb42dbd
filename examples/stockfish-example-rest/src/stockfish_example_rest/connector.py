"""The ``rest`` connector: a polling HTTP JSON venue, written against the public API only.

One poll thread per session asks the venue, every ``poll_interval``, for the quotes and
books of the subscribed symbols and for the order events since the last one seen. Each
successful poll is a heartbeat; ``max_failed_polls`` failures in a row (timeout, refused,
HTTP 5xx) report the venue lost through :meth:`handle_connection_error`, which flags open
orders unknown-outcome and reconnects (``connect`` again, resubscribe, then
:meth:`request_order_states` asks the venue about each open order).
"""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import orjson
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import NotConnectedError, SubscriptionError
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    now_ns,
)
from stockfish_core.orders import Fill, Order, OrderStatus

from stockfish_example_rest.plugin import CAPABILITIES
from stockfish_example_rest.settings import RestSettings

__all__ = ["RestConnector", "VenueUnreachableError"]

_STATUS = {"SUBMITTED": OrderStatus.SUBMITTED, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
           "FILLED": OrderStatus.FILLED, "CANCELLED": OrderStatus.CANCELLED,
           "REJECTED": OrderStatus.REJECTED}
# The proxy settings of the environment must never route a venue's loopback traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class VenueUnreachableError(ConnectionError):
    """The request did not get an answer (refused, timed out, HTTP 5xx).

    ``delivered`` is False only when the venue certainly never saw the request (refused)."""

    def __init__(self, message: str, *, delivered: bool | None) -> None:
        super().__init__(message)
        self.delivered = delivered


class _HTTPAnswer:
    __slots__ = ("body", "code")

    def __init__(self, code: int, body: bytes) -> None:
        self.code = code
        self.body = body


class _Session:
    """One connection's poll thread and its stop flag (a reconnect makes a new one)."""

    __slots__ = ("stop", "thread")

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


class RestConnector(BaseConnector):
    """Connector to a polling HTTP JSON venue (see ``stockfish_example_rest.testing``)."""

    connector_type = "rest"
    capabilities = CAPABILITIES
    settings_class = RestSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: RestSettings = self.settings
        self._base = f"http://{s.host}:{s.port}"
        self._headers = {"Content-Type": "application/json"}
        if s.api_key is not None:
            self._headers["X-API-Key"] = s.api_key.reveal()
        self._session: _Session | None = None
        self._event_cursor = 0  # last order event seen (poll thread only)
        self._last_seq: dict[str, int] = {}  # newest quote seq per symbol (poll thread)

    # -- HTTP -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> _HTTPAnswer:
        data = orjson.dumps(body) if body is not None else None
        req = urllib.request.Request(self._base + path, data=data, method=method,
                                     headers=self._headers)
        try:
            with _OPENER.open(req, timeout=self.settings.request_timeout) as resp:
                return _HTTPAnswer(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            body_bytes = exc.read() if exc.fp is not None else b""
            if exc.code >= 500:
                raise VenueUnreachableError(f"{method} {path}: HTTP {exc.code}",
                                       delivered=None) from None
            return _HTTPAnswer(exc.code, body_bytes)
        except urllib.error.URLError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError)
            raise VenueUnreachableError(f"{method} {path}: {exc.reason}",
                                   delivered=False if refused else None) from None
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise VenueUnreachableError(f"{method} {path}: {type(exc).__name__}: {exc}",
                                   delivered=None) from None

    def _json(self, answer: _HTTPAnswer, kind: str) -> Any:
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            self.record_data_error(kind, answer.body[:200].decode("utf-8", "replace"))
            return None

    # -- lifecycle ------------------------------------------------------------------------
    def connect(self) -> bool:
        session = self._session
        if self.is_connected and session is not None and not session.stop.is_set():
            return True
        self._end_session()
        self.set_status(ConnectorStatus.CONNECTING)
        try:
            answer = self._request("GET", "/health")
            if answer.code != 200:
                raise VenueUnreachableError(f"GET /health: HTTP {answer.code}", delivered=True)
        except VenueUnreachableError as exc:
            return self.connect_failed(str(exc))
        self._last_seq.clear()  # a restarted venue numbers its quotes from zero again
        session = _Session()
        session.thread = threading.Thread(target=self._poll_loop, args=(session,),
                                          name=f"{self.name}-poll", daemon=True)
        self._session = session
        self.set_status(ConnectorStatus.CONNECTED)
        session.thread.start()
        return True

    def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.stop.set()
        thread = session.thread
        if thread is not None and thread is not threading.current_thread():
            # A poll takes at most request_timeout; then the thread sees the flag.
            thread.join(self.settings.request_timeout + 1.0)

    def disconnect(self) -> None:
        self._end_session()
        self.set_status(ConnectorStatus.DISCONNECTED)

    def is_connected_check(self) -> bool:
        session = self._session
        if session is None or session.stop.is_set():
            return False
        try:
            return self._request("GET", "/health").code == 200
        except VenueUnreachableError:
            return False

    # -- polling (the connector's I/O thread) ---------------------------------------------
    def _poll_loop(self, session: _Session) -> None:
        s: RestSettings = self.settings
        failures = 0
        while not session.stop.wait(s.poll_interval):
            try:
                self._poll_once(session)
            except VenueUnreachableError as exc:
                failures += 1
                if failures >= s.max_failed_polls and not session.stop.is_set():
                    session.stop.set()
                    self.handle_connection_error(
                        f"venue unreachable after {failures} failed polls: {exc}")
                    return
                continue
            failures = 0
            self.record_heartbeat()

    def _poll_once(self, session: _Session) -> None:
        keys = list(self.subscriptions_snapshot().items())
        prices = [sym for (kind, sym), _ in keys if kind is DataType.PRICE_TICK]
        books = [(sym, int(p.get("depth", 10))) for (kind, sym), p in keys
                 if kind is DataType.ORDERBOOK_SNAPSHOT]
        if prices:
            answer = self._request("GET", "/quotes?symbols=" + quote(",".join(prices)))
            if answer.code == 200:
                data = self._json(answer, "bad_json")
                quotes = data.get("quotes") if isinstance(data, dict) else None
                if isinstance(quotes, list):
                    self._deliver_quotes(session, quotes)
                elif data is not None:
                    self.record_data_error("bad_quotes", repr(data)[:200])
        for symbol, depth in books:
            answer = self._request("GET", f"/book/{quote(symbol)}?depth={depth}")
            if answer.code == 200 and not session.stop.is_set():
                self.stats.updates_received += 1
                update = self.on_orderbook(self._json(answer, "bad_json"))
                if update is not None:
                    self.push_update(update)
        self._poll_events(session)

    def _deliver_quotes(self, session: _Session, quotes: list[Any]) -> None:
        stats = self.stats
        last_seq = self._last_seq
        for raw in quotes:
            if session.stop.is_set():
                return
            stats.updates_received += 1
            seq = raw.get("seq") if isinstance(raw, dict) else None
            symbol = raw.get("symbol") if isinstance(raw, dict) else None
            if (isinstance(seq, int) and seq >= 0 and isinstance(symbol, str)
                    and seq <= last_seq.get(symbol, -1)):  # nothing new since the last poll
                stats.duplicates_dropped += 1
                continue
            update = self.on_price_tick(raw)
            if update is not None:
                last_seq[update.symbol] = update.sequence
                self.push_update(update)

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

    # -- subscriptions --------------------------------------------------------------------
    def _check_symbol(self, path: str, symbol: str) -> None:
        if self._session is None or not self.is_connected:
            raise NotConnectedError(f"{self.name}: not connected ({self.status.value})")
        try:
            answer = self._request("GET", path)
        except VenueUnreachableError as exc:
            raise NotConnectedError(f"{self.name}: {exc}") from None
        if answer.code == 404:
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r}")
        if answer.code != 200:
            raise SubscriptionError(f"{self.name}: subscribing {symbol!r} failed: HTTP "
                                    f"{answer.code}")

    def subscribe_price(self, symbol: str) -> bool:
        self._check_symbol("/quotes?symbols=" + quote(symbol), symbol)
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        if depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be >= 1, got {depth}")
        self._check_symbol(f"/book/{quote(symbol)}?depth=1", symbol)
        self.record_subscription(DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)
        return True

    def subscribe_news(self) -> bool:
        return False  # the venue has no news

    def subscribe_macro(self) -> bool:
        return False  # nor macro releases

    def unsubscribe(self, symbol: str) -> None:
        self.forget_subscriptions(symbol)  # polling asks only for what is subscribed

    # -- normalizers (poll thread; never raise) -------------------------------------------
    def _next(self, data_type: DataType, symbol: str, payload: Any, seq: int,
              ts_event: int) -> MarketUpdate:
        return MarketUpdate(data_type, symbol, self.name, payload, seq, ts_event, now_ns())

    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        if not isinstance(data, dict) or not isinstance(data.get("symbol"), str):
            self.record_data_error("bad_quote", repr(data)[:200])
            return None
        values = [data.get(k) for k in ("bid", "ask", "last", "bid_size", "ask_size")]
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                 and math.isfinite(v) and v >= 0) for v in values):
            self.record_data_error("bad_quote", repr(data)[:200])
            return None
        bid, ask, last, bid_size, ask_size = values
        if not any(v for v in (bid, ask, last)) or (bid and ask and bid > ask):
            self.record_data_error("bad_quote", repr(data)[:200])
            return None
        seq, ts = data.get("seq"), data.get("ts")
        symbol = data["symbol"]
        tick = PriceTick(symbol, bid or None, ask or None, last or None, bid_size, ask_size,
                         ts_event=ts if isinstance(ts, int) else now_ns())
        return self._next(DataType.PRICE_TICK, symbol, tick,
                          seq if isinstance(seq, int) else 0, tick.ts_event)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        try:
            symbol = data["symbol"]
            if not isinstance(symbol, str):
                raise TypeError("symbol")
            bids = tuple(_level(p, q) for p, q in data["bids"])
            asks = tuple(_level(p, q) for p, q in data["asks"])
        except (KeyError, TypeError, ValueError, IndexError):
            self.record_data_error("bad_book", repr(data)[:200])
            return None
        params = self.subscriptions.get((DataType.ORDERBOOK_SNAPSHOT, symbol), {})
        depth = int(params.get("depth", 10))
        ts = data.get("ts")
        book = OrderBookSnapshot(symbol, bids, asks,
                                 ts_event=ts if isinstance(ts, int) else now_ns())
        book = OrderBookSnapshot(symbol, book.bids[:depth], book.asks[:depth],
                                 ts_event=book.ts_event)
        if book.is_crossed:
            self.record_data_error("crossed_book", symbol)
            return None
        seq = data.get("seq")
        return self._next(DataType.ORDERBOOK_SNAPSHOT, symbol, book,
                          seq if isinstance(seq, int) else 0, book.ts_event)

    def on_news(self, data: Any) -> MarketUpdate | None:
        self.record_data_error("no_news", "this venue has no news feed")
        return None

    def on_macro(self, data: Any) -> MarketUpdate | None:
        self.record_data_error("no_macro", "this venue has no macro feed")
        return None

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


def _level(price: Any, size: Any) -> OrderBookLevel:
    p, q = float(price), float(size)
    if not (math.isfinite(p) and math.isfinite(q) and p > 0 and q >= 0):
        raise ValueError("bad level")
    return OrderBookLevel(p, q)

