"""A simulated HTTP JSON venue, standard library only.

``RestVenue`` serves on 127.0.0.1 (port 0 = an ephemeral port, reported by ``.port``):

- ``GET /health`` -> ``{"ok": true, "time": ns}``
- ``GET /quotes?symbols=A,B`` -> ``{"quotes": [{"symbol", "seq", "bid", "ask", "last",
  "bid_size", "ask_size", "ts"}, ...]}``; 404 naming an unknown symbol
- ``GET /book/SYMBOL?depth=N`` -> ``{"symbol", "seq", "bids": [[price, size], ...],
  "asks": [...], "ts"}``
- ``POST /orders`` (``client_order_id``, ``symbol``, ``side``, ``quantity``,
  ``order_type``, ``price``, ``time_in_force``) -> the order's state. A client order id the
  venue already has is not entered twice: the existing state is returned.
- ``DELETE /orders/ID`` -> the cancelled order's state; 409 if it is no longer working
- ``GET /orders/ID`` -> the order's state with its fills; 404 if never received
- ``GET /orders?since=N`` -> ``{"events": [...], "last": M}``: every order event (ACK,
  REJECTED, FILL, CANCELLED) after event number ``N``

A market thread moves prices every ``tick_interval`` and fills working orders: market orders
at the touch, at most ``top_size`` per tick (so larger orders fill partially), limit orders
when they cross. Faults: :meth:`stop_answering` (requests are processed, answers never
come), :meth:`answer_500`,
:meth:`refuse` (the port is closed), :meth:`drop_connections` (a short outage), and
:meth:`send_garbage` (the next responses carry malformed quotes and one non-JSON body).
The venue keeps its own record of every order received and every fill made.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["RestVenue"]

_TERMINAL = ("FILLED", "CANCELLED", "REJECTED")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    venue: RestVenue


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the venue is quiet; tests read its records instead

    def _reply(self, code: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, method: str) -> None:
        venue = self.server.venue
        fault = venue._fault_for_request()
        if fault == "500":
            self._reply(500, {"error": "internal error (injected)"})
            return
        if venue.api_key is not None and self.headers.get("X-API-Key") != venue.api_key:
            self._reply(401, {"error": "bad or missing X-API-Key"})
            return
        body: Any = None
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                self._reply(400, {"error": "body is not JSON"})
                return
        try:
            code, reply = venue._route(method, self.path, body)
        except Exception as exc:  # a venue bug must show up as an answer, not a hang
            code, reply = 500, {"error": f"{type(exc).__name__}: {exc}"}
        if fault == "hang":  # the request was processed; its answer never comes
            venue._resume.wait(venue.hang_limit)
            self.close_connection = True
            return
        self._reply(code, reply)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class RestVenue:
    """The simulated venue. ``start()`` returns the connector configuration entry."""

    def __init__(self, symbols: tuple[str, ...] = ("AAA", "BBB"), *, port: int = 0,
                 tick_interval: float = 0.05, top_size: float = 100.0, seed: int = 7,
                 api_key: str | None = None, outage: float = 0.5,
                 hang_limit: float = 30.0) -> None:
        self.symbols = tuple(symbols)
        self.requested_port = port
        self.port = port
        self.tick_interval = tick_interval
        self.top_size = top_size
        self.api_key = api_key
        self.outage = outage
        self.hang_limit = hang_limit
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._prices = {s: 100.0 + 10 * i for i, s in enumerate(self.symbols)}
        self._seq = dict.fromkeys(self.symbols, 0)
        self._orders: dict[str, dict[str, Any]] = {}
        self._received: dict[str, int] = {}
        self._events: list[dict[str, Any]] = []
        self._fills: list[dict[str, Any]] = []
        self._venue_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._mode: str | None = None  # None, "hang" or "500"
        self._garbage = 0
        self._garbage_not_json = False
        self._resume = threading.Event()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._market_thread: threading.Thread | None = None
        self.requests = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Serve on 127.0.0.1 and start the market; returns a ``rest`` connector entry."""
        self._stop.clear()
        self._listen(self.requested_port)
        self._market_thread = threading.Thread(target=self._market, daemon=True,
                                               name="rest-venue-market")
        self._market_thread.start()
        return {"type": "rest", "host": "127.0.0.1", "port": self.port,
                "poll_interval": 0.05, "request_timeout": 1.0, "heartbeat_interval": 1.0}

    def _listen(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), _Handler)
        server.venue = self
        self.port = server.server_address[1]
        self._server = server
        self._serve_thread = threading.Thread(target=server.serve_forever,
                                              kwargs={"poll_interval": 0.05}, daemon=True,
                                              name=f"rest-venue-{self.port}")
        self._serve_thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(5.0)

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        self._close_listener()
        if self._market_thread is not None:
            self._market_thread.join(5.0)

    def __enter__(self) -> RestVenue:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ---------------------------------------------------------------------------
    def stop_answering(self) -> None:
        """Requests are accepted and processed but never answered (until :meth:`resume`):
        an order posted now is entered, and the client cannot know it."""
        self._resume.clear()
        self._mode = "hang"

    def answer_500(self) -> None:
        """Every request gets HTTP 500 (until :meth:`resume`)."""
        self._mode = "500"

    def refuse(self) -> None:
        """Close the listening port: connections are refused (until :meth:`resume`)."""
        self._close_listener()

    def resume(self) -> None:
        """End every fault: answer normally again, on the same port."""
        self._mode = None
        self._resume.set()
        if self._server is None and not self._stop.is_set():
            self._listen(self.port)

    def drop_connections(self) -> None:
        """An outage: refuse connections for ``outage`` seconds, then come back."""
        self.refuse()

        def come_back() -> None:
            if not self._stop.wait(self.outage):
                self.resume()

        threading.Thread(target=come_back, daemon=True, name="rest-venue-outage").start()

    def send_garbage(self, responses: int = 3) -> None:
        """The next ``responses`` quote answers carry a malformed quote; the first of them
        is not JSON at all."""
        with self._lock:
            self._garbage = responses
            self._garbage_not_json = True

    def _fault_for_request(self) -> str | None:
        self.requests += 1
        return self._mode

    # -- records --------------------------------------------------------------------------
    def orders_received_count(self, client_order_id: str) -> int:
        """How many times an order with this client order id was submitted to the venue."""
        with self._lock:
            return self._received.get(client_order_id, 0)

    def order_state(self, client_order_id: str) -> dict[str, Any] | None:
        with self._lock:
            order = self._orders.get(client_order_id)
            return _public(order) if order else None

    def fills(self) -> list[dict[str, Any]]:
        """Every fill the venue made, in order."""
        with self._lock:
            return [dict(f) for f in self._fills]

    # -- market ---------------------------------------------------------------------------
    def _market(self) -> None:
        while not self._stop.wait(self.tick_interval):
            with self._lock:
                for symbol in self.symbols:
                    step = self._rng.uniform(-0.05, 0.05)
                    self._prices[symbol] = max(1.0, round(self._prices[symbol] + step, 2))
                    self._seq[symbol] += 1
                for order in self._orders.values():
                    if order["status"] in ("SUBMITTED", "PARTIALLY_FILLED"):
                        self._match(order)

    def _touch(self, symbol: str) -> tuple[float, float]:
        mid = self._prices[symbol]
        return round(mid - 0.01, 2), round(mid + 0.01, 2)

    def _match(self, order: dict[str, Any]) -> None:
        bid, ask = self._touch(order["symbol"])
        buy = order["side"] == "BUY"
        price = ask if buy else bid
        if order["order_type"] == "LIMIT" and (price > order["price"] if buy
                                               else price < order["price"]):
            return
        remaining = order["quantity"] - order["filled"]
        qty = min(remaining, self.top_size)
        fill = {"exec_id": f"E{next(self._exec_ids)}", "quantity": qty, "price": price,
                "ts": time.time_ns()}
        order["fills"].append(fill)
        order["filled"] += qty
        order["status"] = "FILLED" if order["filled"] >= order["quantity"] \
            else "PARTIALLY_FILLED"
        self._fills.append({"client_order_id": order["client_order_id"], **fill})
        self._event("FILL", order, fill=fill)

    def _event(self, kind: str, order: dict[str, Any], **extra: Any) -> None:
        self._events.append({"seq": len(self._events) + 1, "kind": kind,
                             "client_order_id": order["client_order_id"],
                             "venue_order_id": order["venue_order_id"],
                             "status": order["status"], "reason": order["reason"], **extra})

    # -- HTTP routes ----------------------------------------------------------------------
    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        segments = [s for s in parts.path.split("/") if s]
        with self._lock:
            if method == "GET" and segments == ["health"]:
                return 200, {"ok": True, "time": time.time_ns()}
            if method == "GET" and segments == ["quotes"]:
                return self._quotes(query)
            if method == "GET" and len(segments) == 2 and segments[0] == "book":
                return self._book(segments[1], query)
            if segments == ["orders"] and method == "POST":
                return self._submit(body)
            if segments == ["orders"] and method == "GET":
                return self._events_since(query)
            if len(segments) == 2 and segments[0] == "orders":
                order = self._orders.get(segments[1])
                if order is None:
                    return 404, {"error": f"unknown order {segments[1]}"}
                if method == "GET":
                    return 200, _public(order)
                if method == "DELETE":
                    return self._cancel(order)
        return 404, {"error": f"no route {method} {parts.path}"}

    def _quotes(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        wanted = [s for s in ",".join(query.get("symbols", [])).split(",") if s]
        unknown = [s for s in wanted if s not in self._prices]
        if unknown:
            return 404, {"error": f"unknown symbol(s): {', '.join(unknown)}"}
        quotes: list[Any] = []
        for symbol in wanted:
            bid, ask = self._touch(symbol)
            quotes.append({"symbol": symbol, "seq": self._seq[symbol], "bid": bid, "ask": ask,
                           "last": self._prices[symbol], "bid_size": self.top_size,
                           "ask_size": self.top_size, "ts": time.time_ns()})
        if self._garbage:
            self._garbage -= 1
            if self._garbage_not_json:
                self._garbage_not_json = False
                return 200, b"{not json"
            quotes.append({"symbol": wanted[0] if wanted else "AAA", "seq": -1, "bid": "abc"})
        return 200, {"quotes": quotes}

    def _book(self, symbol: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if symbol not in self._prices:
            return 404, {"error": f"unknown symbol: {symbol}"}
        try:
            depth = max(1, min(int(query.get("depth", ["10"])[0]), 50))
        except ValueError:
            return 400, {"error": "depth must be an integer"}
        bid, ask = self._touch(symbol)
        bids = [[round(bid - 0.01 * i, 2), self.top_size * (i + 1)] for i in range(depth)]
        asks = [[round(ask + 0.01 * i, 2), self.top_size * (i + 1)] for i in range(depth)]
        return 200, {"symbol": symbol, "seq": self._seq[symbol], "bids": bids, "asks": asks,
                     "ts": time.time_ns()}

    def _submit(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("client_order_id"), str):
            return 400, {"error": "expected an order object with a client_order_id"}
        cid = body["client_order_id"]
        self._received[cid] = self._received.get(cid, 0) + 1
        known = self._orders.get(cid)
        if known is not None:  # idempotent: the same client order id is never entered twice
            return 200, _public(known)
        order: dict[str, Any] = {
            "client_order_id": cid, "venue_order_id": f"V{next(self._venue_ids)}",
            "symbol": body.get("symbol"), "side": body.get("side"),
            "quantity": body.get("quantity"), "order_type": body.get("order_type"),
            "price": body.get("price"), "status": "SUBMITTED", "reason": None,
            "filled": 0.0, "fills": []}
        self._orders[cid] = order
        reason = _invalid(order, self._prices)
        if reason:
            order["status"], order["reason"] = "REJECTED", reason
            self._event("REJECTED", order)
        else:
            self._event("ACK", order)
        return 200, _public(order)

    def _cancel(self, order: dict[str, Any]) -> tuple[int, Any]:
        if order["status"] in _TERMINAL:
            return 409, {"error": f"order is {order['status']}", **_public(order)}
        order["status"], order["reason"] = "CANCELLED", "cancelled by client"
        self._event("CANCELLED", order)
        return 200, _public(order)

    def _events_since(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        try:
            since = int(query.get("since", ["0"])[0])
        except ValueError:
            return 400, {"error": "since must be an integer"}
        return 200, {"events": self._events[max(since, 0):], "last": len(self._events)}


def _invalid(order: dict[str, Any], prices: dict[str, float]) -> str | None:
    if order["symbol"] not in prices:
        return f"unknown symbol {order['symbol']!r}"
    if order["side"] not in ("BUY", "SELL"):
        return f"bad side {order['side']!r}"
    qty = order["quantity"]
    if not isinstance(qty, (int, float)) or isinstance(qty, bool) or not qty > 0:
        return f"bad quantity {qty!r}"
    if order["order_type"] not in ("MARKET", "LIMIT"):
        return f"unsupported order type {order['order_type']!r}"
    price = order["price"]
    if order["order_type"] == "LIMIT" and not (isinstance(price, (int, float)) and price > 0):
        return f"bad limit price {price!r}"
    return None


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if k == "fills" else v) for k, v in order.items()}
