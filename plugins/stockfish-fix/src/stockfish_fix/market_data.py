"""Market data on the ``fix`` connector: MarketDataRequest (V) out, snapshots (W),
incremental refreshes (X) and rejects (Y) in, a book per subscribed symbol, and the
normalizers of the contract.

The incremental-refresh path is the hot path: no logging, no locks, no hook calls.
"""

from __future__ import annotations

import collections
import math
import threading
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import NotConnectedError, SubscriptionError
from stockfish_core.models import DataType, MarketUpdate, NewsEvent, PriceTick, now_ns

from stockfish_fix import messages as m
from stockfish_fix.book import BID, OFFER, Book, BookError

if TYPE_CHECKING:
    import itertools

__all__ = ["FIXMarketData"]


class _Subscription:
    __slots__ = ("active", "depth", "error", "price", "ready", "req_id", "symbol")

    def __init__(self, symbol: str, req_id: str) -> None:
        self.symbol = symbol
        self.req_id = req_id
        self.price = False
        self.depth = 0  # 0: no book subscription
        self.ready = threading.Event()
        self.error: str | None = None
        self.active = True




class FIXMarketData:
    """The market-data role of :class:`~stockfish_fix.connector.FIXConnector` (a mixin over
    ``BaseConnector``)."""

    if TYPE_CHECKING:  # provided by BaseConnector and the other roles
        name: str
        settings: Any
        version: str
        fix_counters: collections.Counter[str]
        _ids: itertools.count[int]
        _tag: str
        _logged_on: threading.Event

        def _send(self, msg: Any) -> bool: ...
        def _require_connected(self) -> None: ...
        def push_update(self, update: MarketUpdate) -> None: ...
        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...
        def record_subscription(self, data_type: DataType, symbol: str = "",
                                **params: Any) -> None: ...
        def forget_subscriptions(self, symbol: str) -> None: ...

    def _init_market_data(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._req_symbols: dict[str, str] = {}
        self._books: dict[str, Book] = {}
        self._seq = 0

    def _reset_market_data(self) -> None:
        """The session is gone: every venue subscription with it (resubscribe restores)."""
        for sub in list(self._subs.values()):
            sub.active = False
            sub.ready.set()
        self._subs = {}
        self._req_symbols = {}
        self._books = {}

    def _subscribe(self, symbol: str, *, price: bool = False, depth: int = 0) -> bool:
        if not isinstance(symbol, str) or not symbol.strip():
            raise SubscriptionError(f"{self.name}: bad symbol {symbol!r}")
        self._require_connected()
        sub = self._subs.get(symbol)
        if sub is not None and sub.active:
            sub.price = sub.price or price
            sub.depth = max(sub.depth, depth)
            return True
        req_id = f"MD{self._tag}-{next(self._ids)}"
        sub = _Subscription(symbol, req_id)
        sub.price, sub.depth = price, depth
        self._req_symbols[req_id] = symbol
        self._subs[symbol] = sub
        msg = m.encode_md_request(req_id, symbol, self.version, subscribe=True,
                                  depth=self.settings.market_depth)
        if not self._send(msg):
            self._subs.pop(symbol, None)
            raise NotConnectedError(f"{self.name}: market data request for {symbol} not sent")
        if not sub.ready.wait(self.settings.request_timeout):
            self._subs.pop(symbol, None)
            raise SubscriptionError(f"{self.name}: no market data for {symbol} within "
                                    f"{self.settings.request_timeout:g}s")
        if sub.error is not None:
            self._subs.pop(symbol, None)
            self._req_symbols.pop(req_id, None)
            raise SubscriptionError(f"{self.name}: market data for {symbol} refused: "
                                    f"{sub.error}")
        if not sub.active:  # woken by the session's end
            raise NotConnectedError(f"{self.name}: the FIX session ended before market data "
                                    f"for {symbol} came")
        return True

    def subscribe_price(self, symbol: str) -> bool:
        """Snapshot + updates (V, 263=1) for ``symbol``: W/X build the book -> PriceTick."""
        self._subscribe(symbol, price=True)
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Book updates for ``symbol``: OrderBookSnapshot of the top ``depth`` levels."""
        depth = max(1, int(depth))
        self._subscribe(symbol, depth=depth)
        self.record_subscription(DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)
        return True

    def subscribe_news(self) -> bool:
        """FIX market data here carries no news."""
        return False

    def subscribe_macro(self) -> bool:
        """FIX market data here carries no macro releases."""
        return False

    def unsubscribe(self, symbol: str) -> None:
        """Unsubscribe (V, 263=2) and forget the subscription."""
        sub = self._subs.pop(symbol, None)
        self.forget_subscriptions(symbol)
        if sub is None:
            return
        sub.active = False
        self._req_symbols.pop(sub.req_id, None)
        self._books.pop(symbol, None)
        if self._logged_on.is_set():
            self._send(m.encode_md_request(sub.req_id, symbol, self.version, subscribe=False,
                                           depth=self.settings.market_depth))

    def _publish(self, sub: _Subscription, book: Book, trades: list[Any], ts: int) -> None:
        symbol = sub.symbol
        name = self.name
        if sub.depth:
            self._seq += 1
            self.push_update(MarketUpdate(DataType.ORDERBOOK_SNAPSHOT, symbol, name,
                                          book.snapshot(sub.depth, ts), self._seq, ts, ts))
        if sub.price:
            tick = book.tick(ts)
            if tick is not None:
                self._seq += 1
                self.push_update(MarketUpdate(DataType.PRICE_TICK, symbol, name, tick,
                                              self._seq, ts, ts))
        for trade in trades:
            self._seq += 1
            self.push_update(MarketUpdate(DataType.TRADE, symbol, name, trade, self._seq,
                                          ts, ts))

    def _on_snapshot(self, msg: Any) -> None:
        symbol, _req_id, entries = m.decode_md_snapshot(msg)
        sub = self._subs.get(symbol)
        if sub is None or not sub.active:
            self.fix_counters["md_after_unsubscribe"] += 1
            return
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = Book(symbol)
        trades = book.apply_snapshot(entries)
        sub.ready.set()
        self._publish(sub, book, trades, now_ns())

    def _on_incremental(self, msg: Any) -> None:
        req_id, entries = m.decode_md_incremental(msg)
        default = self._req_symbols.get(req_id) if req_id else None
        by_symbol: dict[str, list[Any]] = {}
        for entry in entries:
            symbol = entry.symbol or default
            if symbol is None:
                raise m.DecodeError("missing_field", "Symbol (55) in an X entry")
            by_symbol.setdefault(symbol, []).append(entry)
        ts = now_ns()
        for symbol, items in by_symbol.items():
            sub = self._subs.get(symbol)
            book = self._books.get(symbol)
            if sub is None or book is None:
                self.fix_counters["md_after_unsubscribe"] += 1
                continue
            try:
                trades = book.apply(items)
            except BookError as exc:
                self.record_data_error(exc.kind, symbol)
                trades = []
            if book.is_crossed:
                self.record_data_error("crossed_book", symbol)
                continue
            self._publish(sub, book, trades, ts)

    def _on_md_reject(self, msg: Any) -> None:
        req_id, reason = m.decode_md_reject(msg)
        symbol = self._req_symbols.pop(req_id, None)
        sub = self._subs.get(symbol) if symbol else None
        self.fix_counters["md_rejects"] += 1
        if sub is None:
            self.record_data_error("md_reject", f"{req_id}: {reason}")
            return
        sub.error = reason
        sub.active = False
        sub.ready.set()

    # ================================================================== normalizers
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        """A PriceTick from a mapping (symbol, bid, ask, last, sizes) or a ``Book``."""
        ts = now_ns()
        if isinstance(data, Book):
            tick = data.tick(ts)
            if tick is None:
                self.record_data_error("empty_book", data.symbol)
                return None
            return self._next(DataType.PRICE_TICK, data.symbol, tick, ts)
        if not isinstance(data, dict) or not isinstance(data.get("symbol"), str) \
                or not data.get("symbol"):
            self.record_data_error("bad_quote", type(data).__name__)
            return None
        values: dict[str, float | None] = {}
        for key in ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume"):
            value = data.get(key)
            if value is None:
                values[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0 \
                    or (value == 0 and key in ("bid", "ask", "last")):
                self.record_data_error("bad_quote", f"{key}={value!r}"[:80])
                return None
            values[key] = float(value)
        if values["bid"] is None and values["ask"] is None and values["last"] is None:
            self.record_data_error("bad_quote", "no price")
            return None
        bid, ask = values["bid"], values["ask"]
        if bid is not None and ask is not None and bid > ask:
            self.record_data_error("crossed_quote", data["symbol"])
            return None
        tick = PriceTick(data["symbol"], ts_event=ts, **values)
        return self._next(DataType.PRICE_TICK, data["symbol"], tick, ts)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        """An OrderBookSnapshot from a ``Book`` or a mapping symbol/bids/asks of
        (price, size) pairs."""
        ts = now_ns()
        if isinstance(data, Book):
            book = data
        elif isinstance(data, dict) and isinstance(data.get("symbol"), str) \
                and data.get("symbol") and isinstance(data.get("bids"), (list, tuple)) \
                and isinstance(data.get("asks"), (list, tuple)):
            book = Book(data["symbol"])
            try:
                for kind, levels in ((BID, data["bids"]), (OFFER, data["asks"])):
                    for price, size in levels:
                        p, q = float(price), float(size)
                        if not (p > 0 and q > 0 and p != float("inf") and q != float("inf")):
                            raise ValueError(f"level {price!r}/{size!r}")
                        book.set_level(kind, p, q)
            except (TypeError, ValueError) as exc:
                self.record_data_error("bad_book", str(exc)[:80])
                return None
        else:
            self.record_data_error("bad_book", type(data).__name__)
            return None
        if book.is_crossed:
            self.record_data_error("crossed_book", book.symbol)
            return None
        return self._next(DataType.ORDERBOOK_SNAPSHOT, book.symbol, book.snapshot(0, ts), ts)

    def on_news(self, data: Any) -> MarketUpdate | None:
        """A NewsEvent from a mapping with a headline (FIX News (B) is not subscribed)."""
        if not isinstance(data, dict) or not isinstance(data.get("headline"), str) \
                or not data["headline"].strip():
            self.record_data_error("bad_news", type(data).__name__)
            return None
        ts = now_ns()
        return self._next(DataType.NEWS, "", NewsEvent(headline=data["headline"].strip(),
                                                       source="FIX", ts_event=ts), ts)

    def on_macro(self, data: Any) -> MarketUpdate | None:
        """FIX has no macro feed here: counted and rejected."""
        self.record_data_error("macro_unsupported", type(data).__name__)
        return None

    def _next(self, data_type: DataType, symbol: str, payload: Any, ts: int) -> MarketUpdate:
        self._seq += 1
        return MarketUpdate(data_type, symbol, self.name, payload, self._seq, ts, ts)

    def book(self, symbol: str) -> Book | None:
        """The maintained book of ``symbol`` (read-only use; QuickFIX's thread writes it)."""
        return self._books.get(symbol)

