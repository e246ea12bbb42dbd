"""Market data: subscriptions (quotes, depth, real-time bars, news bulletins), the hot path
from ib_insync's tickers to the router, and the seed's ``on_*`` normalizers.

The hot path (:meth:`MarketDataMixin._on_tickers`) runs on the IB loop thread, once per TCP
packet with every ticker it touched: no logging, no hooks, no locks.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs
from stockfish_core.errors import ConnectorError, SubscriptionError
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    now_ns,
)

from stockfish_ibkr.feed_watch import FeedWatchMixin
from stockfish_ibkr.normalize import normalize_book, normalize_quote
from stockfish_ibkr.pacing import PacingError

__all__ = ["MarketDataMixin"]

# IB's tick types carrying a bid, ask or last price (live and delayed).
_PRICE_TICK_TYPES = frozenset({1, 2, 4, 66, 67, 68})


@attrs.define(slots=True, eq=False)
class _Route:
    """Where one contract's ticker updates go (hot path lookup by ``id(ticker)``)."""

    symbol: str
    contract: Any
    ticker: Any = None
    price: bool = False  # a PRICE_TICK subscription
    l1_book: bool = False  # a depth-1 book made from the quote
    md_on: bool = False  # reqMktData active in this session
    depth: int = 0  # rows of an active reqMktDepth (0: none)
    smart_depth: bool = False
    bars: Any = None  # RealTimeBarList
    last_tick: float = 0.0
    last_dom: float = 0.0
    md_stale: bool = False  # market data lost (1101): must be requested again
    depth_stale: bool = False
    bars_stale: bool = False

    @property
    def wants_quotes(self) -> bool:
        return self.price or self.l1_book


class MarketDataMixin(FeedWatchMixin):
    """The market-data role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        def qualify(self, symbol: str) -> Any: ...

    def _init_market_data(self) -> None:
        self._routes: dict[int, _Route] = {}  # id(ticker) -> route (hot path)
        self._by_symbol: dict[str, _Route] = {}
        self._bar_routes: dict[int, _Route] = {}  # id(RealTimeBarList) -> route
        self._news_on = False
        self._seq = 0

    def _forget_streams(self) -> None:
        """The session ended or was replaced: its tickers and bar lists are dead."""
        self._routes.clear()
        self._by_symbol.clear()
        self._bar_routes.clear()
        self._news_on = False

    # ================================================================== hot path
    def _next_update(self, data_type: DataType, symbol: str, payload: Any,
                     ts: int) -> MarketUpdate:
        self._seq += 1
        return MarketUpdate(data_type, symbol, self.name, payload, self._seq, ts, ts)

    def _on_tickers(self, ib: Any, tickers: Any) -> None:
        """Hot path: one call per TCP packet with every ticker it touched."""
        if ib is not self._ib:
            return
        routes = self._routes
        stats = self.stats
        ts = now_ns()
        mono = time.monotonic()
        for ticker in tickers:
            route = routes.get(id(ticker))
            if route is None:
                continue
            ticks = ticker.ticks
            if ticks and route.wants_quotes:
                stats.updates_received += len(ticks)
                route.last_tick = mono
                if route.price:
                    # ib_insync keeps each field's last value: a bad price another tick of
                    # the same packet overwrote is seen only in the packet's ticks.
                    bad = self._count_bad_prices(route.symbol, ticks) if len(ticks) > 1 else 0
                    tick, kind, sentinels = normalize_quote(
                        route.symbol, ticker.bid, ticker.ask, ticker.last, ticker.bidSize,
                        ticker.askSize, ticker.lastSize, ticker.volume, ts)
                    if sentinels:
                        self.ib_counters["sentinel_values"] += sentinels
                    if tick is None:
                        if kind == "empty_quote":  # only IB's "no quote" values so far
                            self.ib_counters["empty_quotes"] += 1
                        elif not bad:  # else counted tick by tick already
                            self.record_data_error(kind or "bad_quote", route.symbol)
                    else:
                        self.push_update(self._next_update(DataType.PRICE_TICK, route.symbol,
                                                           tick, ts))
                if route.l1_book:
                    self._publish_l1(route, ticker, ts)
            dom = ticker.domTicks
            if dom and route.depth:
                stats.updates_received += len(dom)
                route.last_dom = mono
                book, kind = normalize_book(route.symbol, ticker.domBids, ticker.domAsks,
                                            route.depth, ts)
                if book is None:
                    self._book_rejected(kind, route.symbol)
                else:
                    self.push_update(self._next_update(DataType.ORDERBOOK_SNAPSHOT,
                                                       route.symbol, book, ts))

    def _count_bad_prices(self, symbol: str, ticks: Any) -> int:
        """Count each bid / ask / last tick of a packet whose price is neither a price nor
        one of IB's "no quote" values (-1, 0, NaN); returns how many."""
        bad = 0
        for tick in ticks:
            if tick.tickType in _PRICE_TICK_TYPES:
                price = tick.price
                if (price < 0.0 and price != -1.0) or price == math.inf:
                    bad += 1
                    self.record_data_error("bad_price", symbol)
        return bad

    def _publish_l1(self, route: _Route, ticker: Any, ts: int) -> None:
        bid, ask = ticker.bid, ticker.ask
        bids = [(bid, ticker.bidSize)] if isinstance(bid, float) and bid > 0 else []
        asks = [(ask, ticker.askSize)] if isinstance(ask, float) and ask > 0 else []
        bids = [(p, q if q >= 0 else 0.0) for p, q in bids if not math.isnan(q)]
        asks = [(p, q if q >= 0 else 0.0) for p, q in asks if not math.isnan(q)]
        book, kind = normalize_book(route.symbol, bids, asks, 1, ts)
        if book is None:
            self._book_rejected(kind, route.symbol)
            return
        self.push_update(self._next_update(DataType.ORDERBOOK_SNAPSHOT, route.symbol, book, ts))

    def _book_rejected(self, kind: str | None, symbol: str) -> None:
        # IB sends a book as one message per level: between two packets it can be crossed
        # or empty for a moment. That is not bad data; the next packet completes it.
        if kind in ("crossed_book", "empty_book"):
            self.ib_counters[f"transient_{kind}s"] += 1
        else:
            self.record_data_error(kind or "bad_book", symbol)

    def _on_bar_update(self, ib: Any, bars: Any, has_new_bar: bool) -> None:
        if ib is not self._ib or not has_new_bar or not bars:
            return
        route = self._bar_routes.get(id(bars))
        if route is None:
            return
        self.stats.updates_received += 1
        update = self.on_bar(bars[-1], route.symbol, getattr(bars, "barSize", 5))
        if update is not None:
            self.push_update(update)

    def _on_bulletin(self, ib: Any, bulletin: Any) -> None:
        if ib is not self._ib:
            return
        self.stats.updates_received += 1
        update = self.on_news(bulletin)
        if update is not None:
            self.push_update(update)

    # ================================================================== subscriptions
    def _route(self, symbol: str, contract: Any) -> _Route:
        self._feed_requested(symbol)
        route = self._by_symbol.get(symbol)
        if route is None or route.contract is not contract:
            route = _Route(symbol, contract)
            self._by_symbol[symbol] = route
        return route

    # ================================================================== market data
    def subscribe_price(self, symbol: str) -> bool:
        """Stream bid/ask/last with sizes for ``symbol`` as PriceTick updates."""
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        self._run_sync(self._subscribe_quotes_on_loop, symbol, contract, "price")
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def _subscribe_quotes_on_loop(self, symbol: str, contract: Any, kind: str) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        if kind == "price":
            route.price = True
        else:
            route.l1_book = True
        self._request_quotes(ib, route, force=False)

    def _request_quotes(self, ib: Any, route: _Route, force: bool) -> None:
        if route.md_on and not force and not route.md_stale:
            return
        if route.md_on:
            ib.cancelMktData(route.contract)
        route.ticker = ib.reqMktData(route.contract, "", False, False)
        route.md_on = True
        route.md_stale = False
        route.last_tick = time.monotonic()
        self._routes[id(route.ticker)] = route

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Market depth as OrderBookSnapshot (depth 1: the top of book from the quote)."""
        if not isinstance(depth, int) or depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be an int >= 1, got {depth!r}")
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        if depth == 1:
            self._run_sync(self._subscribe_quotes_on_loop, symbol, contract, "l1")
        else:
            self._run_sync(self._subscribe_depth_on_loop, symbol, contract, depth)
        self.record_subscription(DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)
        return True

    def _subscribe_depth_on_loop(self, symbol: str, contract: Any, depth: int) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        self._request_depth(ib, route, depth, force=False)

    def _request_depth(self, ib: Any, route: _Route, depth: int, force: bool) -> None:
        if route.depth == depth and not force and not route.depth_stale:
            return
        if route.depth:
            ib.cancelMktDepth(route.contract, route.smart_depth)
        route.smart_depth = route.contract.exchange == "SMART"
        route.ticker = ib.reqMktDepth(route.contract, depth, route.smart_depth)
        route.depth = depth
        route.depth_stale = False
        route.last_dom = time.monotonic()
        self._routes[id(route.ticker)] = route

    def subscribe_bars(self, symbol: str, bar_size: int = 5) -> bool:
        """Live 5-second bars (reqRealTimeBars) as OHLCVBar updates."""
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        self._run_sync(self._subscribe_bars_on_loop, symbol, contract, bar_size)
        self.record_subscription(DataType.OHLCV_BAR, symbol, bar_size=bar_size)
        return True

    def _subscribe_bars_on_loop(self, symbol: str, contract: Any, bar_size: int) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        if route.bars is not None and not route.bars_stale:
            return
        if route.bars is not None:
            self._bar_routes.pop(id(route.bars), None)
            ib.cancelRealTimeBars(route.bars)
        route.bars_stale = False
        what = "MIDPOINT" if contract.secType == "CASH" else "TRADES"
        route.bars = ib.reqRealTimeBars(contract, bar_size, what, False)
        self._bar_routes[id(route.bars)] = route

    def subscribe_news(self) -> bool:
        """IB news bulletins as NewsEvent updates."""
        self._require_connected()
        self._pace()
        self._run_sync(self._subscribe_news_on_loop)
        self.record_subscription(DataType.NEWS, "")
        return True

    def _subscribe_news_on_loop(self) -> None:
        ib = self._live_ib()
        if not self._news_on:
            ib.reqNewsBulletins(True)
            self._news_on = True

    def subscribe_macro(self) -> bool:
        """IB has no macro-event feed."""
        return False

    def resubscribe_one(self, data_type: DataType, symbol: str, params: dict[str, Any]) -> bool:
        if data_type is DataType.OHLCV_BAR:
            return self.subscribe_bars(symbol, int(params.get("bar_size", 5)))
        return super().resubscribe_one(data_type, symbol, params)

    def unsubscribe(self, symbol: str) -> None:
        """Cancel every market data request for ``symbol``."""
        if self.is_connected and self._ib is not None and symbol in self._by_symbol:
            with contextlib.suppress(PacingError):
                self._pace()
            with contextlib.suppress(ConnectorError):
                self._run_sync(self._unsubscribe_on_loop, symbol)
        self.forget_subscriptions(symbol)

    def _unsubscribe_on_loop(self, symbol: str) -> None:
        self._forget_feed(symbol)
        route = self._by_symbol.pop(symbol, None)
        if route is None:
            return
        if route.ticker is not None:
            self._routes.pop(id(route.ticker), None)
        ib = self._ib
        if ib is None:
            return
        if route.md_on:
            ib.cancelMktData(route.contract)
        if route.depth:
            ib.cancelMktDepth(route.contract, route.smart_depth)
        if route.bars is not None:
            self._bar_routes.pop(id(route.bars), None)
            ib.cancelRealTimeBars(route.bars)

    # ================================================================== normalizers
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        """A PriceTick from an ib Ticker (routed) or a mapping with symbol/bid/ask/last/..."""
        ts = now_ns()
        if isinstance(data, dict):
            symbol = data.get("symbol")
            values = [data.get(k) for k in ("bid", "ask", "last", "bid_size", "ask_size",
                                            "last_size", "volume")]
        elif hasattr(data, "ticks") and hasattr(data, "contract"):
            route = self._routes.get(id(data))
            symbol = route.symbol if route is not None else getattr(data.contract, "symbol", None)
            values = [data.bid, data.ask, data.last, data.bidSize, data.askSize, data.lastSize,
                      data.volume]
        else:
            self.record_data_error("bad_quote", type(data).__name__)
            return None
        if not isinstance(symbol, str):
            self.record_data_error("bad_symbol", repr(symbol)[:80])
            return None
        bid, ask, last, bid_size, ask_size, last_size, volume = values
        tick, kind, sentinels = normalize_quote(symbol, bid, ask, last, bid_size, ask_size,
                                                last_size, volume, ts)
        if sentinels:
            self.ib_counters["sentinel_values"] += sentinels
        if tick is None:
            self.record_data_error(kind or "bad_quote", symbol)
            return None
        return self._next_update(DataType.PRICE_TICK, symbol, tick, ts)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        """An OrderBookSnapshot from a Ticker's DOM or a mapping symbol/bids/asks."""
        ts = now_ns()
        if isinstance(data, dict):
            symbol, bids, asks = data.get("symbol"), data.get("bids"), data.get("asks")
            depth = data.get("depth", 0)
        elif hasattr(data, "domBids") and hasattr(data, "contract"):
            route = self._routes.get(id(data))
            symbol = route.symbol if route is not None else getattr(data.contract, "symbol", None)
            bids, asks, depth = data.domBids, data.domAsks, route.depth if route else 0
        else:
            self.record_data_error("bad_book", type(data).__name__)
            return None
        if not isinstance(symbol, str) or bids is None or asks is None \
                or not isinstance(depth, int):
            self.record_data_error("bad_book", repr(data)[:80])
            return None
        book, kind = normalize_book(symbol, bids, asks, depth, ts)
        if book is None:
            self.record_data_error(kind or "bad_book", symbol)
            return None
        return self._next_update(DataType.ORDERBOOK_SNAPSHOT, symbol, book, ts)

    def on_news(self, data: Any) -> MarketUpdate | None:
        """A NewsEvent from an IB NewsBulletin or a mapping with a headline."""
        if isinstance(data, dict):
            headline, source = data.get("headline"), data.get("source", "")
        elif hasattr(data, "message") and hasattr(data, "msgId"):
            headline, source = data.message, data.origExchange or "IB"
        else:
            self.record_data_error("bad_news", type(data).__name__)
            return None
        if not isinstance(headline, str) or not headline.strip() or not isinstance(source, str):
            self.record_data_error("bad_news", repr(data)[:80])
            return None
        ts = now_ns()
        news = NewsEvent(headline=headline.strip(), source=source, ts_event=ts)
        return self._next_update(DataType.NEWS, "", news, ts)

    def on_macro(self, data: Any) -> MarketUpdate | None:
        """IB has no macro feed: any macro input is counted and rejected."""
        self.record_data_error("macro_unsupported", type(data).__name__)
        return None

    def on_bar(self, bar: Any, symbol: str = "", interval_s: int = 5) -> MarketUpdate | None:
        """An OHLCVBar from an IB RealTimeBar / BarData (or a mapping)."""
        try:
            if isinstance(bar, dict):
                symbol = bar.get("symbol", symbol)
                when: Any = bar.get("time")
                o, h, lo, c = bar["open"], bar["high"], bar["low"], bar["close"]
                vol = bar.get("volume", 0.0)
            else:
                when = getattr(bar, "time", None) or getattr(bar, "date", None)
                o = bar.open_ if hasattr(bar, "open_") else bar.open
                h, lo, c, vol = bar.high, bar.low, bar.close, bar.volume
            values = [float(v) for v in (o, h, lo, c)]
            volume = float(vol)
            volume = volume if math.isfinite(volume) and volume > 0 else 0.0
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.record_data_error("bad_bar", repr(exc)[:80])
            return None
        if not isinstance(symbol, str) or not symbol or not all(
                math.isfinite(v) and v > 0 for v in values) or values[1] < values[2]:
            self.record_data_error("bad_bar", f"{symbol}: {values}")
            return None
        ts = _to_ns(when)
        payload = OHLCVBar(symbol, *values, volume=volume, interval_s=int(interval_s),
                           ts_event=ts)
        return MarketUpdate(DataType.OHLCV_BAR, symbol, self.name, payload, self._bump(), ts,
                            now_ns())

    def _bump(self) -> int:
        self._seq += 1
        return self._seq


def _to_ns(when: Any) -> int:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return int(when.timestamp() * 1e9)
    if isinstance(when, date):
        return int(datetime(when.year, when.month, when.day, tzinfo=timezone.utc).timestamp()
                   * 1e9)
    if isinstance(when, (int, float)) and math.isfinite(when) and when > 0:
        return int(when * 1e9) if when < 1e12 else int(when)
    return now_ns()
