"""Market data of the ``rest`` connector: subscriptions (checked with the venue), the quotes
and books each poll brings, and their normalizers (poll thread; they never raise)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stockfish_core.errors import NotConnectedError, SubscriptionError
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    now_ns,
)

from stockfish_example_rest.venue_http import HTTPAnswer, VenueUnreachableError

if TYPE_CHECKING:
    from stockfish_core.connector import BaseConnector

    from stockfish_example_rest.connector import _Session

    _Base = BaseConnector
else:
    _Base = object

__all__ = ["MarketDataMixin"]


class MarketDataMixin(_Base):
    """The market-data role of :class:`~stockfish_example_rest.connector.RestConnector`."""

    if TYPE_CHECKING:
        _session: _Session | None
        _last_seq: dict[str, int]

        def _request(self, method: str, path: str, body: Any = None) -> HTTPAnswer: ...

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



def _level(price: Any, size: Any) -> OrderBookLevel:
    p, q = float(price), float(size)
    if not (math.isfinite(p) and math.isfinite(q) and p > 0 and q >= 0):
        raise ValueError("bad level")
    return OrderBookLevel(p, q)

