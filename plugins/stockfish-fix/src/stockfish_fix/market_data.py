"""Market data on the ``fix`` connector: MarketDataRequest (V) out, snapshots (W),
incremental refreshes (X) and rejects (Y) in, a book per subscribed symbol in the model the
venue uses (:mod:`stockfish_fix.book`), and the normalizers of the contract.

Integrity: a book that cannot take an update (a change or delete of a level or entry it
does not have, a crossed book, a RptSeq gap, a gap fill over the session, a message that
does not decode) is marked stale: nothing is published for its symbol until a snapshot is
accepted, which :class:`~stockfish_fix.resync.ResyncScheduler` requests (263=0) with backoff.
``stale_symbols()`` says which symbols are stale and for how long; each cause is counted in
``data_errors_by_kind`` (stats and metrics) and in ``get_stats()['fix']``.

The incremental-refresh path is the hot path: no logging, no locks, no hook calls (a stale
book is logged through the throttled data-error log, once per cause and thousand).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import NotConnectedError, SubscriptionError
from stockfish_core.models import DataType, MarketUpdate, NewsEvent, PriceTick, now_ns

from stockfish_fix import messages as m
from stockfish_fix.book import (
    BID,
    CHANGE,
    NEW,
    OFFER,
    Book,
    BookError,
    TopOfBook,
    detect_model,
    make_book,
)
from stockfish_fix.resync import ResyncScheduler
from stockfish_fix.wire import wire_text

if TYPE_CHECKING:
    import itertools

__all__ = ["FIXMarketData"]

_SIDES = (BID, OFFER)


class _Subscription:
    """One symbol's venue subscription and its book."""

    __slots__ = ("active", "allow_negative", "book", "depth", "detected", "error", "model",
                 "next_rpt_seq", "price", "ready", "req_id", "resubscribe", "stale_cause",
                 "stale_since", "symbol", "undecided")

    def __init__(self, symbol: str, req_id: str, model: str, allow_negative: bool) -> None:
        self.symbol = symbol
        self.req_id = req_id
        self.price = False
        self.depth = 0  # 0: no book subscription
        self.ready = threading.Event()
        self.error: str | None = None
        self.active = True
        self.model = model  # as configured: a model name or "auto"
        self.allow_negative = allow_negative
        self.book: Book | None = None  # None until a snapshot is accepted, and while stale
        # auto: the model the increments showed (kept across resyncs), and whether a
        # price-keyed book could still be top-of-book (one level a side so far)
        self.detected: str | None = None
        self.undecided = False
        self.next_rpt_seq: int | None = None  # RptSeq the next entry must carry
        self.stale_since: float | None = None  # monotonic time the book went stale
        self.stale_cause: str | None = None
        # The venue refused a snapshot alone (263=0): resync by subscribing again instead.
        self.resubscribe = False


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

        @property
        def closing(self) -> bool: ...
        def _send(self, msg: Any) -> bool: ...
        def _require_connected(self) -> None: ...
        def push_update(self, update: MarketUpdate) -> None: ...
        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...
        def record_sequence_gap(self, symbol: str, first_missing: int,
                                last_missing: int) -> None: ...
        def record_subscription(self, data_type: DataType, symbol: str = "",
                                **params: Any) -> None: ...
        def forget_subscriptions(self, symbol: str) -> None: ...
        def subscriptions_snapshot(self) -> dict[tuple[DataType, str], dict[str, Any]]: ...

    def _init_market_data(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._req_symbols: dict[str, str] = {}
        self._seq = 0
        self.md_resyncs_by_cause: collections.Counter[str] = collections.Counter()
        s = self.settings
        self._resyncer = ResyncScheduler(
            self.name, self._request_snapshot, initial=s.md_resync_initial_delay,
            max_delay=s.md_resync_max_delay, closing=lambda: self.closing)

    def _reset_market_data(self) -> None:
        """The session is gone: every venue subscription with it (resubscribe restores)."""
        self._resyncer.clear()
        for sub in list(self._subs.values()):
            sub.active = False
            sub.ready.set()
        self._subs = {}
        self._req_symbols = {}

    def _subscribe(self, symbol: str, *, price: bool = False, depth: int = 0,
                   again: bool = False) -> bool:
        """Subscribe at the venue and wait for the first snapshot. ``again``: a
        subscription the user already has (a resubscription after a reconnect): one whose
        snapshot is late is kept, stale, and its snapshot re-requested until one comes,
        rather than given up (which would leave it listed and silent)."""
        if not isinstance(symbol, str) or not symbol.strip():
            raise SubscriptionError(f"{self.name}: bad symbol {symbol!r}")
        try:
            wire_text("Symbol (55)", symbol)
        except ValueError as exc:
            raise SubscriptionError(f"{self.name}: {exc}") from None
        self._require_connected()
        sub = self._subs.get(symbol)
        if sub is not None and sub.active:
            sub.price = sub.price or price
            sub.depth = max(sub.depth, depth)
            return True
        s = self.settings
        req_id = f"MD{self._tag}-{next(self._ids)}"
        sub = _Subscription(symbol, req_id, s.book_model(symbol),
                            s.allows_negative_prices(symbol))
        sub.price, sub.depth = price, depth
        self._req_symbols[req_id] = symbol
        self._subs[symbol] = sub
        msg = m.encode_md_request(req_id, symbol, self.version, subscribe=True,
                                  depth=s.market_depth)
        if not self._send(msg):
            self._subs.pop(symbol, None)
            raise NotConnectedError(f"{self.name}: market data request for {symbol} not sent")
        if not sub.ready.wait(s.request_timeout):
            if again and sub.active and sub.error is None:
                self._mark_stale(sub, "md_snapshot_timeout",
                                 f"no snapshot within {s.request_timeout:g}s")
                return True
            self._subs.pop(symbol, None)
            raise SubscriptionError(f"{self.name}: no market data for {symbol} within "
                                    f"{s.request_timeout:g}s")
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
        self._subscribe(symbol, price=True,
                        again=(DataType.PRICE_TICK, symbol) in self.subscriptions_snapshot())
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Book updates for ``symbol``: OrderBookSnapshot of the top ``depth`` levels."""
        depth = max(1, int(depth))
        self._subscribe(symbol, depth=depth, again=(DataType.ORDERBOOK_SNAPSHOT, symbol)
                        in self.subscriptions_snapshot())
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
        self._resyncer.done(symbol)
        if sub is None:
            return
        sub.active = False
        self._req_symbols.pop(sub.req_id, None)
        if self._logged_on.is_set():
            self._send(m.encode_md_request(sub.req_id, symbol, self.version, subscribe=False,
                                           depth=self.settings.market_depth))

    # ------------------------------------------------------------------ integrity
    def stale_symbols(self) -> dict[str, str]:
        """Subscribed symbols whose book is stale (nothing published until a snapshot is
        accepted), each with why and for how long: ``"rpt_seq_gap, resyncing for 0.4 s"``."""
        return {symbol: f"{cause}, resyncing for {age:.1f} s"
                for symbol, (cause, age) in self._stale().items()}

    def stale_seconds(self) -> dict[str, float]:
        """Seconds each stale symbol has been stale (for metrics)."""
        return {symbol: age for symbol, (_cause, age) in self._stale().items()}

    def _stale(self) -> dict[str, tuple[str, float]]:
        now = time.monotonic()
        return {sub.symbol: (sub.stale_cause or "stale", now - sub.stale_since)
                for sub in list(self._subs.values())
                if sub.active and sub.stale_since is not None}

    def book_models(self) -> dict[str, str]:
        """The model each subscribed symbol's book is kept in (detected ones included)."""
        out = {}
        for sub in list(self._subs.values()):
            book = sub.book
            out[sub.symbol] = book.model if book is not None else sub.detected or sub.model
        return out

    def _mark_stale(self, sub: _Subscription, cause: str, detail: str = "", *,
                    counted: bool = False) -> None:
        """Stop publishing ``sub`` and have its snapshot re-requested. ``counted``: the
        data error was recorded already (one message, one count)."""
        if not counted:
            self.record_data_error(cause, f"{sub.symbol}: {detail}" if detail else sub.symbol)
        if sub.stale_since is not None:
            return
        sub.stale_since = time.monotonic()
        sub.stale_cause = cause
        sub.book = None
        self.fix_counters["md_resyncs"] += 1
        self.md_resyncs_by_cause[cause] += 1
        self._resyncer.add(sub.symbol)

    def _mark_all_stale(self, cause: str) -> None:
        """Every book may have missed updates (a gap fill over the session)."""
        subs = [sub for sub in list(self._subs.values()) if sub.active and sub.book]
        for index, sub in enumerate(subs):
            self._mark_stale(sub, cause, counted=index > 0)

    def _request_snapshot(self, symbol: str) -> bool:
        """The resync worker's request: a snapshot alone (263=0) under a new MDReqID; the
        subscription's increments keep flowing and are ignored until the snapshot."""
        sub = self._subs.get(symbol)
        if sub is None or not sub.active or sub.stale_since is None:
            self._resyncer.done(symbol)
            return False
        if not self._logged_on.is_set():
            return False
        depth = self.settings.market_depth
        if sub.resubscribe:  # a new subscription's snapshot: the old one is ended first
            self.fix_counters["md_resubscriptions"] += 1
            self._send(m.encode_md_request(sub.req_id, symbol, self.version, subscribe=False,
                                           depth=depth))
            self._req_symbols.pop(sub.req_id, None)
            sub.req_id = f"MD{self._tag}-{next(self._ids)}"
            self._req_symbols[sub.req_id] = symbol
            return self._send(m.encode_md_request(sub.req_id, symbol, self.version,
                                                  depth=depth))
        req_id = f"MD{self._tag}-S{next(self._ids)}"
        self._req_symbols[req_id] = symbol
        self.fix_counters["md_snapshot_requests"] += 1
        return self._send(m.encode_md_request(req_id, symbol, self.version,
                                              snapshot_only=True, depth=depth))

    def _stale_from_undecodable(self, msg: Any) -> None:
        """A market-data message that did not decode may have held updates for any book
        it names (or, naming none, for any book): those go stale (counted once, by the
        caller, under the decoding problem)."""
        req_id, symbols = m.md_symbols(msg)
        if req_id in self._req_symbols:
            symbols.add(self._req_symbols[req_id])
        subs = [self._subs[s] for s in symbols if s in self._subs] if symbols \
            else list(self._subs.values())
        for sub in subs:
            if sub.active:
                self._mark_stale(sub, "md_undecodable", counted=True)

    # ------------------------------------------------------------------ messages
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

    def _new_book(self, sub: _Subscription, entries: list[Any], depth: int | None) -> Book:
        """An empty book for a snapshot of ``sub``: the configured model, or in ``auto``
        the one the entries (or earlier increments) show."""
        model = sub.model
        sub.undecided = False
        if model == "auto":
            model = detect_model(entries) or sub.detected or "price_level"
            if model == "price_level" and sub.detected is None:
                per_side = collections.Counter(e.type for e in entries if e.type in _SIDES)
                sub.undecided = max(per_side.values(), default=0) <= 1
        return make_book(model, sub.symbol, allow_negative=sub.allow_negative,
                         depth=depth or self.settings.market_depth)

    def _on_snapshot(self, msg: Any) -> None:
        try:
            symbol, req_id, entries, depth = m.decode_md_snapshot(msg)
        except m.DecodeError:
            self._stale_from_undecodable(msg)
            raise
        sub = self._subs.get(symbol)
        if sub is None or not sub.active:
            self.fix_counters["md_after_unsubscribe"] += 1
            return
        if req_id and req_id != sub.req_id:
            self._req_symbols.pop(req_id, None)  # a resync's request: answered
        book = self._new_book(sub, entries, depth)
        try:
            book.apply_snapshot(entries)
            if book.is_crossed and not self.settings.allow_crossed_books:
                raise BookError("crossed_book", "in a snapshot")
        except BookError as exc:  # still (or now) stale: the resync keeps asking
            self._mark_stale(sub, exc.kind, exc.detail)
            sub.ready.set()
            return
        rpt = [e.rpt_seq for e in entries if e.rpt_seq is not None]
        sub.next_rpt_seq = max(rpt) + 1 if rpt else None
        sub.book = book
        if sub.stale_since is not None:
            self.fix_counters["md_resyncs_completed"] += 1
            sub.stale_since = sub.stale_cause = None
            self._resyncer.done(symbol)
        sub.ready.set()
        self._publish(sub, book, [], now_ns())

    def _on_incremental(self, msg: Any) -> None:
        try:
            req_id, entries = m.decode_md_incremental(msg)
        except m.DecodeError:
            self._stale_from_undecodable(msg)
            raise
        default = self._req_symbols.get(req_id) if req_id else None
        by_symbol: dict[str, list[Any]] = {}
        for entry in entries:
            symbol = entry.symbol or default
            if symbol is None:
                self._stale_from_undecodable(msg)
                raise m.DecodeError("missing_field", "Symbol (55) in an X entry")
            items = by_symbol.get(symbol)
            if items is None:
                by_symbol[symbol] = [entry]
            else:
                items.append(entry)
        ts = now_ns()
        subs = self._subs
        for symbol, items in by_symbol.items():
            sub = subs.get(symbol)
            if sub is None or not sub.active:
                self.fix_counters["md_after_unsubscribe"] += 1
                continue
            book = sub.book
            if book is None:  # stale: the snapshot being requested will restate it
                self.fix_counters["md_while_stale"] += 1
                continue
            if items[0].rpt_seq is not None or sub.next_rpt_seq is not None:
                fresh = self._in_sequence(sub, items)
                if not fresh:
                    continue
                items = fresh  # noqa: PLW2901 - the same entries, those not yet applied
            if sub.model == "auto":
                if not self._model_fits(sub, book, items):
                    continue
                book = sub.book
            try:
                trades = book.apply(items)
                if book.is_crossed and not self.settings.allow_crossed_books:
                    raise BookError("crossed_book", "")
            except BookError as exc:
                self._mark_stale(sub, exc.kind, exc.detail)
                continue
            self._publish(sub, book, trades, ts)

    def _in_sequence(self, sub: _Subscription, items: list[Any]) -> list[Any]:
        """The entries not already in the book's snapshot, checked for RptSeq gaps (a gap
        makes the book stale and returns nothing)."""
        expected = sub.next_rpt_seq
        kept = []
        for entry in items:
            rpt = entry.rpt_seq
            if rpt is None:
                kept.append(entry)
            elif expected is None or rpt == expected:
                kept.append(entry)
                expected = rpt + 1
            elif rpt < expected:
                self.fix_counters["md_entries_before_snapshot"] += 1
            else:
                self.record_sequence_gap(sub.symbol, expected, rpt - 1)
                self._mark_stale(sub, "rpt_seq_gap", f"expected RptSeq {expected}, got {rpt}")
                return []
        sub.next_rpt_seq = expected
        return kept

    def _model_fits(self, sub: _Subscription, book: Book, items: list[Any]) -> bool:
        """``auto``: what the increments show about the venue's model. A model other than
        the book's makes it stale (rebuilt in that model from the next snapshot); a
        price-keyed book with one level a side learns here whether it is top-of-book (a
        Change at a new price replaces the quote) or price-level (a New beside a level)."""
        for entry in items:
            if entry.type not in _SIDES:
                continue
            shows = "position" if entry.level is not None else "entry_id" \
                if entry.ref_id is not None or (entry.entry_id is not None
                                                and entry.price is None) else None
            if shows is not None and shows != book.model:
                sub.detected = shows
                self._mark_stale(sub, "book_model_detected", f"{book.model} -> {shows}")
                return False
            if not sub.undecided or entry.price is None:
                continue
            side = book.bids if entry.type == BID else book.asks
            if entry.price in side:
                continue
            if entry.action == CHANGE and len(side) == 1:
                sub.book = self._as_top_of_book(book)
                sub.detected = "top_of_book"
                sub.undecided = False
                return True
            if entry.action == NEW and side:
                sub.detected = "price_level"
                sub.undecided = False
        return True

    @staticmethod
    def _as_top_of_book(book: Book) -> Book:
        top = TopOfBook(book.symbol, allow_negative=book.allow_negative, depth=book.depth)
        top.bids.update(book.bids)
        top.asks.update(book.asks)
        top.last, top.last_size, top.volume = book.last, book.last_size, book.volume
        return top

    def _on_md_reject(self, msg: Any) -> None:
        req_id, reason = m.decode_md_reject(msg)
        symbol = self._req_symbols.pop(req_id, None)
        sub = self._subs.get(symbol) if symbol else None
        self.fix_counters["md_rejects"] += 1
        if sub is None:
            self.record_data_error("md_reject", f"{req_id}: {reason}")
            return
        if req_id != sub.req_id:  # a resync's snapshot request: the subscription stands
            self.record_data_error("md_snapshot_request_rejected", f"{symbol}: {reason}")
            sub.resubscribe = True  # the next attempt subscribes again instead
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
        """The maintained book of ``symbol`` (read-only use; QuickFIX's thread writes it);
        None while it is stale."""
        sub = self._subs.get(symbol)
        return sub.book if sub is not None else None

