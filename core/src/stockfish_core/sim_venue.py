"""An in-process paper exchange used by the built-in ``sim`` connector.

One ``SimVenue`` per name per process (``SimVenue.get(name)``). A single venue thread
drives everything in time order: random-walk quotes, books, bars, trades, news and macro
events for subscribed symbols, delayed order acknowledgements (``latency``), resting order
matching and heartbeats. The venue keeps its own record of every order it received and every
fill it made, so tests can compare the client's view with the truth, and it keeps matching
orders while their session is disconnected. Fault injection: :meth:`drop`,
:meth:`drop_after`, :meth:`refuse_connections`, :meth:`hang`, :meth:`inject_malformed`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

__all__ = ["SimSession", "SimVenue"]

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9/._-]{0,19}$")
_MALFORMED_QUOTES: tuple[dict[str, Any], ...] = (
    {"bid": float("nan"), "ask": 1.0},
    {"bid": -5.0, "ask": -1.0},
    {"bid": 1.0},  # no symbol
    {"bid": "abc"},
)


class SimSession(Protocol):
    """What the venue calls back on a connected client (on the venue thread)."""

    def on_venue_market(self, kind: str, data: dict[str, Any]) -> None: ...
    def on_venue_report(self, report: dict[str, Any]) -> None: ...
    def on_venue_heartbeat(self) -> None: ...
    def on_venue_disconnect(self, reason: str) -> None: ...


class _VenueOrder:
    __slots__ = (
        "client_order_id",
        "filled",
        "fills",
        "order_type",
        "price",
        "quantity",
        "reason",
        "session",
        "side",
        "status",
        "stop_price",
        "symbol",
        "tif",
        "triggered",
        "venue_order_id",
    )

    def __init__(self, msg: dict[str, Any], venue_order_id: str, session: SimSession) -> None:
        self.client_order_id: str = msg["client_order_id"]
        self.venue_order_id = venue_order_id
        self.symbol: str = msg["symbol"]
        self.side: str = msg["side"]
        self.quantity = float(msg["quantity"])
        self.order_type: str = msg["order_type"]
        self.price: float | None = msg.get("price")
        self.stop_price: float | None = msg.get("stop_price")
        self.tif: str = msg.get("time_in_force", "DAY")
        self.session: SimSession | None = session
        self.status = "PENDING_NEW"  # not matchable until accepted
        self.filled = 0.0
        self.fills: list[dict[str, Any]] = []
        self.reason: str | None = None
        self.triggered = False

    @property
    def open(self) -> bool:
        return self.status in ("SUBMITTED", "PARTIALLY_FILLED")

    def state(self) -> dict[str, Any]:
        return {"client_order_id": self.client_order_id, "venue_order_id": self.venue_order_id,
                "status": self.status, "filled": self.filled, "reason": self.reason,
                "fills": list(self.fills)}


class SimVenue:
    """A paper venue. Thread-safe; all callbacks run on the venue thread."""

    _venues: ClassVar[dict[str, SimVenue]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "sim", seed: int = 0, tick_interval: float = 0.02,
                 listed: tuple[str, ...] | None = None, top_size: float = 100.0) -> None:
        self.name = name
        self.tick_interval = tick_interval
        self.latency = 0.0
        self.listed = set(listed) if listed is not None else None
        self.top_size = top_size
        self.orders_received: Counter[str] = Counter()
        self.fills: list[dict[str, Any]] = []
        self.sessions: set[SimSession] = set()
        self.connects = 0
        self._rng = random.Random(seed)
        self._orders: dict[str, _VenueOrder] = {}
        self._mids: dict[str, float] = {}
        self._subs: dict[SimSession, set[tuple[str, str]]] = {}
        self._bars: dict[str, list[float]] = {}
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._cond = threading.Condition()
        self._refuse_until = 0.0
        self._hang_until = 0.0
        self._ticks = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"sim-venue-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ registry
    @classmethod
    def get(cls, name: str = "sim", **options: Any) -> SimVenue:
        """The process-wide venue called ``name`` (created on first use)."""
        with cls._registry_lock:
            venue = cls._venues.get(name)
            if venue is None or venue._stopped:
                venue = cls(name, **options)
                cls._venues[name] = venue
            return venue

    @classmethod
    def reset_all(cls) -> None:
        """Stop and forget every venue (tests)."""
        with cls._registry_lock:
            venues = list(cls._venues.values())
            cls._venues.clear()
        for venue in venues:
            venue.stop()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._drop_sessions("venue stopped")
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)

    # ------------------------------------------------------------------ faults
    def drop(self, reason: str = "venue dropped the connection") -> int:
        """Cut every connected session now; returns how many."""
        return self._drop_sessions(reason)

    def drop_after(self, seconds: float) -> None:
        def drop() -> None:
            self.drop()

        self._schedule(seconds, drop)

    def refuse_connections(self, seconds: float) -> None:
        """Refuse new connections for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds

    def hang(self, seconds: float) -> None:
        """Freeze the venue: no data, and client calls block until it thaws."""
        with self._cond:
            self._hang_until = time.monotonic() + seconds
            self._cond.notify_all()

    def inject_malformed(self, count: int = 1) -> None:
        """Send ``count`` malformed quotes to every session subscribed to prices
        (NaN, negative, missing symbol, wrong type, in turn)."""
        def send() -> None:
            for session, subs in list(self._subs.items()):
                for kind, symbol in list(subs):
                    if kind != "price":
                        continue
                    for i in range(count):
                        bad: dict[str, Any] = dict(_MALFORMED_QUOTES[i % len(_MALFORMED_QUOTES)])
                        if "bid" in bad and i % len(_MALFORMED_QUOTES) != 2:
                            bad["symbol"] = symbol
                        session.on_venue_market("price", bad)
        self._schedule(0.0, send)

    def _wait_if_hung(self) -> None:
        """Block the caller while the venue is hung (bounded by the hang's end)."""
        with self._cond:
            while not self._stopped and (left := self._hang_until - time.monotonic()) > 0:
                self._cond.wait(left)

    # ------------------------------------------------------------------ sessions
    def connect(self, session: SimSession) -> None:
        self._wait_if_hung()
        if self._stopped:
            raise ConnectionRefusedError(f"venue {self.name} is stopped")
        if time.monotonic() < self._refuse_until:
            raise ConnectionRefusedError(f"venue {self.name} refused the connection")
        with self._cond:
            self.sessions.add(session)
            self._subs[session] = set()
            self.connects += 1

    def disconnect(self, session: SimSession) -> None:
        self._wait_if_hung()
        with self._cond:
            self.sessions.discard(session)
            self._subs.pop(session, None)
            for order in self._orders.values():
                if order.session is session:
                    order.session = None

    def ping(self, session: SimSession) -> bool:
        return not self._stopped and time.monotonic() >= self._hang_until and \
            session in self.sessions

    def _drop_sessions(self, reason: str) -> int:
        with self._cond:
            dropped = list(self.sessions)
            self.sessions.clear()
            self._subs.clear()
            for order in self._orders.values():
                order.session = None
        for session in dropped:
            session.on_venue_disconnect(reason)
        return len(dropped)

    def subscribe(self, session: SimSession, kind: str, symbol: str = "") -> bool:
        """Subscribe ``session`` to ``kind`` (price, book, bars, trades, news, macro)."""
        self._wait_if_hung()
        if symbol and not self.is_listed(symbol):
            return False
        with self._cond:
            if session not in self.sessions:
                raise ConnectionError(f"venue {self.name}: session not connected")
            self._subs[session].add((kind, symbol))
            if symbol:
                self._mid(symbol)
        return True

    def unsubscribe(self, session: SimSession, symbol: str) -> None:
        with self._cond:
            subs = self._subs.get(session)
            if subs is not None:
                for key in [k for k in subs if k[1] == symbol]:
                    subs.discard(key)

    def is_listed(self, symbol: str) -> bool:
        if self.listed is not None:
            return symbol in self.listed
        return bool(_SYMBOL_RE.match(symbol)) and not symbol.startswith("UNKNOWN")

    # ------------------------------------------------------------------ orders
    def submit(self, session: SimSession, msg: dict[str, Any]) -> None:
        """Receive a new order. Acknowledgement and fills come back as reports."""
        self._wait_if_hung()
        with self._cond:
            if session not in self.sessions:
                raise ConnectionError(f"venue {self.name}: session not connected")
            self.orders_received[msg["client_order_id"]] += 1
            if msg["client_order_id"] in self._orders:
                order = self._orders[msg["client_order_id"]]
                self._schedule(self.latency, lambda: self._report(
                    order, "REJECTED", reason="duplicate client order id"))
                return
            order = _VenueOrder(msg, f"V{self.name}-{next(self._ids)}", session)
            self._orders[order.client_order_id] = order
        self._schedule(self.latency, lambda: self._accept(order))

    def cancel(self, session: SimSession, client_order_id: str) -> bool:
        self._wait_if_hung()
        with self._cond:
            if session not in self.sessions:
                raise ConnectionError(f"venue {self.name}: session not connected")
            order = self._orders.get(client_order_id)
        if order is None:
            return False

        def do_cancel() -> None:
            if order.open:
                order.status = "CANCELLED"
                self._report(order, "CANCELLED")
            else:
                self._report(order, "CANCEL_REJECTED",
                             reason=f"order is {order.status}")
        self._schedule(self.latency, do_cancel)
        return True

    def query(self, client_order_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """The venue's truth for each id (``None``: never received)."""
        self._wait_if_hung()
        with self._cond:
            return {cid: (o.state() if (o := self._orders.get(cid)) else None)
                    for cid in client_order_ids}

    def attach(self, session: SimSession, client_order_ids: list[str]) -> None:
        """Route future reports of these orders to ``session`` (after a reconnect)."""
        with self._cond:
            for cid in client_order_ids:
                order = self._orders.get(cid)
                if order is not None:
                    order.session = session

    def open_order_ids(self) -> list[str]:
        """Client order ids of the orders working at the venue now."""
        with self._cond:
            return [cid for cid, o in self._orders.items() if o.open or
                    o.status == "PENDING_NEW"]

    def order_state(self, client_order_id: str) -> dict[str, Any] | None:
        return self.query([client_order_id])[client_order_id]

    def _accept(self, order: _VenueOrder) -> None:
        reason = self._validate(order)
        if reason:
            order.status = "REJECTED"
            order.reason = reason
            self._report(order, "REJECTED", reason=reason)
            return
        order.status = "SUBMITTED"
        self._report(order, "SUBMITTED")
        self._match(order)
        if order.open and order.tif in ("IOC", "FOK"):
            order.status = "CANCELLED"
            order.reason = f"{order.tif}: not fully filled"
            self._report(order, "CANCELLED", reason=order.reason)

    def _validate(self, order: _VenueOrder) -> str | None:
        if not self.is_listed(order.symbol):
            return f"unknown symbol {order.symbol}"
        if not (order.quantity > 0 and math.isfinite(order.quantity)):
            return "quantity must be positive"
        for px in (order.price, order.stop_price):
            if px is not None and not (px > 0 and math.isfinite(px)):
                return "bad price"
        return None

    def _match(self, order: _VenueOrder) -> None:
        if not order.open or order.quantity - order.filled <= 1e-9:
            return
        mid = self._mid(order.symbol)
        bid, ask = round(mid - 0.01, 2), round(mid + 0.01, 2)
        touch = ask if order.side == "BUY" else bid
        kind = order.order_type
        if kind in ("STOP", "STOP_LIMIT") and not order.triggered:
            stop = order.stop_price or 0.0
            if (order.side == "BUY" and touch >= stop) or (order.side == "SELL" and touch <= stop):
                order.triggered = True
            else:
                return
        marketable = kind in ("MARKET", "STOP") or (
            order.price is not None and (
                (order.side == "BUY" and order.price >= touch)
                or (order.side == "SELL" and order.price <= touch)))
        if not marketable:
            return
        remaining = order.quantity - order.filled
        if order.tif == "FOK" and remaining > self.top_size:
            return
        qty = min(remaining, self.top_size)
        self._fill(order, qty, touch)

    def _fill(self, order: _VenueOrder, qty: float, price: float) -> None:
        fill = {"exec_id": f"E{self.name}-{next(self._exec_ids)}", "quantity": qty,
                "price": price, "ts": time.time_ns(),
                "client_order_id": order.client_order_id}
        order.filled += qty
        order.fills.append(fill)
        order.status = "FILLED" if order.filled >= order.quantity - 1e-9 else "PARTIALLY_FILLED"
        self.fills.append(fill)
        self._report(order, "FILL", fill=fill)
        self._broadcast("trades", order.symbol, {
            "symbol": order.symbol, "price": price, "size": qty,
            "side": order.side.lower(), "trade_id": fill["exec_id"]})

    def _report(self, order: _VenueOrder, kind: str, reason: str | None = None,
                fill: dict[str, Any] | None = None) -> None:
        session = order.session
        if session is None:
            return  # disconnected: the client learns the truth by reconciliation
        session.on_venue_report({
            "kind": kind, "client_order_id": order.client_order_id,
            "venue_order_id": order.venue_order_id, "status": order.status,
            "reason": reason, "fill": fill,
        })

    # ------------------------------------------------------------------ venue thread
    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._events, (time.monotonic() + delay, next(self._seq), fn))
            self._cond.notify_all()

    def _mid(self, symbol: str) -> float:
        mid = self._mids.get(symbol)
        if mid is None:
            mid = self._mids[symbol] = round(self._rng.uniform(20, 500), 2)
        return mid

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    due = self._events[0][0] if self._events else next_tick
                    wake = min(due, next_tick)
                    if wake <= now and now >= self._hang_until:
                        break
                    self._cond.wait(max(wake - now, self._hang_until - now, 0.001))
                if self._stopped:
                    return
                now = time.monotonic()
                ready = []
                while self._events and self._events[0][0] <= now:
                    ready.append(heapq.heappop(self._events)[2])
            for fn in ready:
                fn()
            if now >= next_tick:
                self._tick()
                next_tick = max(next_tick + self.tick_interval, now)

    def _broadcast(self, kind: str, symbol: str, data: dict[str, Any]) -> None:
        key = (kind, symbol)
        for session, subs in list(self._subs.items()):
            if key in subs:
                session.on_venue_market(kind, data)

    def _tick(self) -> None:
        self._ticks += 1
        rng = self._rng
        with self._cond:
            subs = {k for s in self._subs.values() for k in s}
            sessions = list(self.sessions)
            open_orders = [o for o in self._orders.values() if o.open]
        symbols = {sym for (_, sym) in subs if sym}
        for symbol in sorted(symbols):
            mid = max(self._mid(symbol) * (1 + rng.gauss(0, 0.0005)), 0.05)
            mid = self._mids[symbol] = round(mid, 2)
            bar = self._bars.setdefault(symbol, [mid, mid, mid, mid, 0.0])
            bar[1], bar[2], bar[3] = max(bar[1], mid), min(bar[2], mid), mid
            bar[4] += rng.randint(1, 50)
            bid, ask = round(mid - 0.01, 2), round(mid + 0.01, 2)
            self._broadcast("price", symbol, {
                "symbol": symbol, "bid": bid, "ask": ask, "last": mid,
                "bid_size": float(rng.randint(1, 10) * 100),
                "ask_size": float(rng.randint(1, 10) * 100),
                "last_size": float(rng.randint(1, 5) * 100), "volume": bar[4]})
            self._broadcast("book", symbol, {
                "symbol": symbol,
                "bids": [[round(bid - 0.01 * i, 2), float(100 * (i + 1))] for i in range(10)],
                "asks": [[round(ask + 0.01 * i, 2), float(100 * (i + 1))] for i in range(10)]})
            if self._ticks % 50 == 0:
                self._broadcast("bars", symbol, {
                    "symbol": symbol, "open": bar[0], "high": bar[1], "low": bar[2],
                    "close": bar[3], "volume": bar[4]})
                self._bars[symbol] = [mid, mid, mid, mid, 0.0]
        if rng.random() < 0.02:
            self._broadcast("news", "", {
                "headline": f"{self.name}: market update #{self._ticks}",
                "source": self.name, "symbols": sorted(symbols)[:3],
                "sentiment": round(rng.uniform(-1, 1), 2)})
        if rng.random() < 0.01:
            self._broadcast("macro", "", {
                "indicator": rng.choice(["CPI", "NFP", "GDP", "PMI"]), "country": "US",
                "actual": round(rng.uniform(0, 5), 2), "forecast": round(rng.uniform(0, 5), 2),
                "previous": round(rng.uniform(0, 5), 2), "importance": rng.randint(1, 3)})
        for order in open_orders:
            if order.open:
                self._match(order)
        for session in sessions:
            session.on_venue_heartbeat()
