"""Books built from W snapshots and X updates, one class per book model a venue may use.

The FIX specification's MarketDataIncrementalRefresh leaves the keying of a book to the
venue; the models venues use (NautilusTrader's L1_MBP / L2_MBP / L3_MBO, CME MDP 3.0's
MDPriceLevel books) are:

``top_of_book`` (:class:`TopOfBook`, L1)
    one quote a side; a New or Change replaces that side's quote whatever its price (no
    MDEntryID), a Delete empties the side.
``price_level`` (:class:`PriceLevelBook`, L2 by price)
    one level per price: New adds, Change sets the size, Delete removes; a Change or Delete
    of a price the book does not have is an inconsistency.
``entry_id`` (:class:`EntryBook`, L3 / order by order)
    entries keyed by MDEntryID (278); a Change with MDEntryRefID (280) renames entry 280 to
    278; a Delete needs no price; several entries at one price are summed into its level.
``position`` (:class:`PositionBook`, MDP 3.0 MBP)
    levels keyed by MDPriceLevel (1023, 1 = best): New inserts and shifts the levels below
    down (one pushed past the book depth falls off), Delete removes and shifts up, 3 Delete
    Thru removes levels 1..n, 4 Delete From removes n..last, 5 Overlay replaces a level's
    price and size.
``snapshot_only`` (:class:`SnapshotBook`)
    W only: each snapshot is the whole book; an X is an inconsistency.

Every model: a trade entry (269=2) in an X is a new trade; in a W it is the last trade's
state (price, size), never a new trade. An empty-book entry (269=J, delete) clears both
sides. Prices below zero only where the instrument allows them (spreads).

A book that cannot apply an update raises :class:`BookError` at once and is then abandoned
by the caller (marked stale, re-requested): it is never published half right. Written by
the QuickFIX thread only; no locking.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stockfish_core.models import OrderBookLevel, OrderBookSnapshot, PriceTick, Trade

__all__ = ["BOOK_MODELS", "Book", "BookError", "EntryBook", "PositionBook", "PriceLevelBook",
           "SnapshotBook", "TopOfBook", "detect_model", "make_book"]

BID, OFFER, TRADE, EMPTY_BOOK = "0", "1", "2", "J"
NEW, CHANGE, DELETE, DELETE_THRU, DELETE_FROM, OVERLAY = "0", "1", "2", "3", "4", "5"
_SIDES = frozenset((BID, OFFER))
#: The settings' names of the models (``auto`` detects one from what arrives).
BOOK_MODELS = ("top_of_book", "price_level", "entry_id", "position", "snapshot_only")


class BookError(ValueError):
    """An update the book cannot apply (``kind`` for the counters)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Book:
    """Bids and offers of one symbol as ``{price: OrderBookLevel}``, and the last trade.

    Each side holds the immutable :class:`OrderBookLevel` objects the snapshots hand out, and
    the last snapshot's side tuples are kept until that side changes: an update touching one
    level makes one new object, not one per level of every snapshot. This base class is the
    price-level model.
    """

    model: ClassVar[str] = "price_level"

    __slots__ = ("_ask_top", "_bid_top", "allow_negative", "asks", "bids", "depth", "last",
                 "last_size", "symbol", "updates", "volume")

    def __init__(self, symbol: str, *, allow_negative: bool = False, depth: int = 0) -> None:
        self.symbol = symbol
        self.allow_negative = allow_negative
        self.depth = depth  # levels the venue keeps a side to (0: unbounded)
        self.bids: dict[float, OrderBookLevel] = {}
        self.asks: dict[float, OrderBookLevel] = {}
        # (depth, levels) of the last snapshot per side; None once that side changed
        self._bid_top: tuple[int, tuple[OrderBookLevel, ...]] | None = None
        self._ask_top: tuple[int, tuple[OrderBookLevel, ...]] | None = None
        self.last: float | None = None
        self.last_size: float | None = None
        self.volume = 0.0
        self.updates = 0

    # ------------------------------------------------------------------ applying
    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_top = self._ask_top = None

    def set_level(self, kind: str, price: float, size: float) -> None:
        """Set one level (``kind`` BID or OFFER); a size of 0 or less removes it."""
        side = self.bids if kind == BID else self.asks
        if size > 0:
            side[price] = OrderBookLevel(price, size)
        else:
            side.pop(price, None)
        self._touched(kind)

    def _touched(self, kind: str) -> None:
        if kind == BID:
            self._bid_top = None
        else:
            self._ask_top = None

    def _price(self, entry: Any) -> float:
        price = entry.price
        if price is None:
            raise BookError("missing_price", f"{self.symbol} {entry.type}/{entry.action}")
        if price <= 0 and not self.allow_negative:
            raise BookError("bad_price", f"{self.symbol}: {price} (set negative_price_symbols "
                                         f"for an instrument priced at or below zero)")
        return price  # type: ignore[no-any-return]

    def apply_snapshot(self, entries: list[Any]) -> None:
        """Replace the book with a full refresh. A trade entry sets the last trade; it is
        not a new trade (every snapshot repeats it)."""
        self.clear()
        for entry in entries:
            kind = entry.type
            if kind == TRADE:
                self.last = self._price(entry)
                self.last_size = entry.size
            elif kind in _SIDES:
                self._snapshot_entry(kind, entry)
        self.updates += 1

    def _snapshot_entry(self, kind: str, entry: Any) -> None:
        price = self._price(entry)
        side = self.bids if kind == BID else self.asks
        if price in side:
            raise BookError("book_duplicate_level", f"{self.symbol}: {price} twice")
        if entry.size:
            side[price] = OrderBookLevel(price, entry.size)

    def apply(self, entries: list[Any]) -> list[Trade]:
        """Apply an X message's entries for this symbol; returns the new trades. Raises
        :class:`BookError` at the first entry that does not fit the book."""
        trades: list[Trade] = []
        for entry in entries:
            kind = entry.type
            if kind == TRADE:
                if entry.action == NEW:
                    trades.append(self._trade(entry))
            elif kind in _SIDES:
                self._apply_entry(kind, entry)
                self._touched(kind)
            elif kind == EMPTY_BOOK and entry.action == DELETE:
                self.clear_all()
        self.updates += 1
        return trades

    def clear_all(self) -> None:
        """An empty-book entry: nothing rests on either side any more."""
        self.clear()

    def _trade(self, entry: Any) -> Trade:
        price = self._price(entry)
        size = entry.size
        self.last = price
        self.last_size = size
        self.volume += size
        return Trade(self.symbol, price, size)

    def _apply_entry(self, kind: str, entry: Any) -> None:
        side = self.bids if kind == BID else self.asks
        action = entry.action
        price = self._price(entry)
        if action == DELETE:
            if side.pop(price, None) is None:
                raise BookError("book_delete_unknown_level", f"{self.symbol} {kind} {price}")
        elif action == CHANGE:
            if price not in side:
                raise BookError("book_change_unknown_level", f"{self.symbol} {kind} {price}")
            self._set(side, price, entry.size)
        elif action == NEW:
            self._set(side, price, entry.size)
        else:
            raise BookError("book_bad_action", f"{self.symbol}: MDUpdateAction {action} "
                                               f"in a {self.model} book")

    @staticmethod
    def _set(side: dict[float, OrderBookLevel], price: float, size: float) -> None:
        if size > 0:
            side[price] = OrderBookLevel(price, size)
        else:
            side.pop(price, None)

    # ------------------------------------------------------------------ reading
    def best_bid(self) -> tuple[float, float] | None:
        if not self.bids:
            return None
        price = max(self.bids)
        return price, self.bids[price].size

    def best_ask(self) -> tuple[float, float] | None:
        if not self.asks:
            return None
        price = min(self.asks)
        return price, self.asks[price].size

    @property
    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bool(bid and ask and bid[0] >= ask[0])

    def snapshot(self, depth: int = 0, ts: int | None = None) -> OrderBookSnapshot:
        """The top ``depth`` levels per side (0: all) as an :class:`OrderBookSnapshot`."""
        top = self._bid_top
        if top is None or top[0] != depth:
            top = self._bid_top = (depth, self._side_top(BID, depth))
        bids = top[1]
        top = self._ask_top
        if top is None or top[0] != depth:
            top = self._ask_top = (depth, self._side_top(OFFER, depth))
        extra = {} if ts is None else {"ts_event": ts}
        return OrderBookSnapshot(self.symbol, bids, top[1], **extra)

    def _side_top(self, kind: str, depth: int) -> tuple[OrderBookLevel, ...]:
        side = self.bids if kind == BID else self.asks
        prices = sorted(side, reverse=kind == BID)
        if depth:
            prices = prices[:depth]
        return tuple(map(side.__getitem__, prices))

    def tick(self, ts: int | None = None) -> PriceTick | None:
        """Best bid/ask and the last trade, or ``None`` when the book is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None and ask is None and self.last is None:
            return None
        extra = {} if ts is None else {"ts_event": ts}
        return PriceTick(
            self.symbol, bid=bid[0] if bid else None, ask=ask[0] if ask else None,
            last=self.last, bid_size=bid[1] if bid else None,
            ask_size=ask[1] if ask else None, last_size=self.last_size,
            volume=self.volume or None, **extra)

    def levels(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(bids high to low, asks low to high) as plain tuples, for comparisons."""
        snap = self.snapshot()
        return ([(lv.price, lv.size) for lv in snap.bids],
                [(lv.price, lv.size) for lv in snap.asks])


class PriceLevelBook(Book):
    """Levels keyed by price (L2 market by price)."""

    __slots__ = ()


class SnapshotBook(Book):
    """W-only feeds: every snapshot is the whole book; an incremental is an inconsistency."""

    model = "snapshot_only"
    __slots__ = ()

    def apply(self, entries: list[Any]) -> list[Trade]:
        raise BookError("book_unexpected_incremental",
                        f"{self.symbol}: an X message on a snapshot-only subscription")


class TopOfBook(Book):
    """One quote a side (L1): a New or Change replaces the side's quote at any price."""

    model = "top_of_book"
    __slots__ = ()

    def _snapshot_entry(self, kind: str, entry: Any) -> None:
        price = self._price(entry)
        side = self.bids if kind == BID else self.asks
        if side:
            raise BookError("book_duplicate_level",
                            f"{self.symbol}: two {kind} quotes in a top-of-book snapshot")
        if entry.size:
            side[price] = OrderBookLevel(price, entry.size)

    def _apply_entry(self, kind: str, entry: Any) -> None:
        side = self.bids if kind == BID else self.asks
        action = entry.action
        if action == DELETE:
            if not side or (entry.price is not None and entry.price not in side):
                raise BookError("book_delete_unknown_level",
                                f"{self.symbol} {kind} {entry.price}")
            side.clear()
        elif action in (NEW, CHANGE):
            price = self._price(entry)
            side.clear()
            if entry.size > 0:
                side[price] = OrderBookLevel(price, entry.size)
        else:
            raise BookError("book_bad_action", f"{self.symbol}: MDUpdateAction {action} "
                                               f"in a top_of_book book")


class EntryBook(Book):
    """Entries keyed by MDEntryID, summed by price into levels (L3 market by order)."""

    model = "entry_id"
    __slots__ = ("_at", "entries")

    def __init__(self, symbol: str, *, allow_negative: bool = False, depth: int = 0) -> None:
        super().__init__(symbol, allow_negative=allow_negative, depth=depth)
        self.entries: dict[str, tuple[str, float, float]] = {}  # id -> (kind, price, size)
        # per side: price -> {entry id: size}
        self._at: dict[str, dict[float, dict[str, float]]] = {BID: {}, OFFER: {}}

    def clear(self) -> None:
        super().clear()
        self.entries.clear()
        self._at[BID].clear()
        self._at[OFFER].clear()

    def _snapshot_entry(self, kind: str, entry: Any) -> None:
        entry_id = entry.entry_id
        if entry_id is None:
            raise BookError("missing_entry_id", f"{self.symbol}: a snapshot entry without "
                                                f"MDEntryID (278) in an entry_id book")
        if entry_id in self.entries:
            raise BookError("book_duplicate_entry", f"{self.symbol}: {entry_id} twice")
        self._add(entry_id, kind, self._price(entry), entry.size)

    def _add(self, entry_id: str, kind: str, price: float, size: float) -> None:
        if size <= 0:
            return
        self.entries[entry_id] = (kind, price, size)
        self._at[kind].setdefault(price, {})[entry_id] = size
        self._level(kind, price)

    def _remove(self, entry_id: str) -> tuple[str, float, float]:
        kind, price, size = self.entries.pop(entry_id)
        orders = self._at[kind][price]
        del orders[entry_id]
        if not orders:
            del self._at[kind][price]
        self._level(kind, price)
        self._touched(kind)
        return kind, price, size

    def _level(self, kind: str, price: float) -> None:
        side = self.bids if kind == BID else self.asks
        orders = self._at[kind].get(price)
        if orders:
            side[price] = OrderBookLevel(price, sum(orders.values()))
        else:
            side.pop(price, None)

    def _apply_entry(self, kind: str, entry: Any) -> None:
        action = entry.action
        entry_id = entry.entry_id
        if entry_id is None:
            raise BookError("missing_entry_id", f"{self.symbol}: MDUpdateAction {action} "
                                                f"without MDEntryID (278)")
        if action == NEW:
            if entry_id in self.entries:
                raise BookError("book_new_existing_entry", f"{self.symbol}: {entry_id}")
            self._add(entry_id, kind, self._price(entry), entry.size)
        elif action == CHANGE:
            old_id = entry.ref_id or entry_id
            if old_id not in self.entries:
                raise BookError("book_change_unknown_entry", f"{self.symbol}: {old_id}")
            if entry.ref_id and entry_id in self.entries:
                raise BookError("book_new_existing_entry", f"{self.symbol}: {entry_id}")
            _kind, price, size = self._remove(old_id)
            if entry.price is not None:
                price = self._price(entry)
            self._add(entry_id, kind, price, entry.size if entry.size is not None else size)
        elif action == DELETE:
            if entry_id not in self.entries:
                raise BookError("book_delete_unknown_entry", f"{self.symbol}: {entry_id}")
            self._remove(entry_id)
        else:
            raise BookError("book_bad_action", f"{self.symbol}: MDUpdateAction {action} "
                                               f"in an entry_id book")


class PositionBook(Book):
    """Levels keyed by position, MDPriceLevel 1 the best (CME MDP 3.0 market by price).

    ``depth``: the venue's book depth (MarketDepth, from the snapshot or the request); a New
    that pushes a level past it drops that level, as the venue does without saying so. At
    0 (unknown) nothing is dropped.
    """

    model = "position"
    __slots__ = ("_levels",)

    def __init__(self, symbol: str, *, allow_negative: bool = False, depth: int = 0) -> None:
        super().__init__(symbol, allow_negative=allow_negative, depth=depth)
        self._levels: dict[str, list[OrderBookLevel]] = {BID: [], OFFER: []}

    def clear(self) -> None:
        super().clear()
        self._levels[BID].clear()
        self._levels[OFFER].clear()

    def apply_snapshot(self, entries: list[Any]) -> None:
        super().apply_snapshot(entries)
        for kind in (BID, OFFER):
            levels = self._levels[kind]
            if any(lv is None for lv in levels):  # no MDPriceLevel: positions by price
                side = self.bids if kind == BID else self.asks
                levels[:] = sorted(side.values(), key=lambda lv: lv.price,
                                   reverse=kind == BID)
            if self.depth and len(levels) > self.depth:
                raise BookError("book_level_beyond_depth",
                                f"{self.symbol}: {len(levels)} levels, depth {self.depth}")
            self._sync(kind, levels)

    def _snapshot_entry(self, kind: str, entry: Any) -> None:
        super()._snapshot_entry(kind, entry)
        levels: list[Any] = self._levels[kind]
        level = entry.level
        if level is None:
            levels.append(None)
            return
        if level != len(levels) + 1:  # levels come best first: 1, 2, 3 ...
            raise BookError("book_level_order",
                            f"{self.symbol}: level {level} at entry {len(levels) + 1}")
        side = self.bids if kind == BID else self.asks
        levels.append(side[entry.price])

    def _apply_entry(self, kind: str, entry: Any) -> None:
        level = entry.level
        if level is None:
            raise BookError("missing_price_level", f"{self.symbol}: MDUpdateAction "
                                                   f"{entry.action} without MDPriceLevel")
        levels = self._levels[kind]
        action = entry.action
        index = level - 1
        depth = self.depth
        if depth and level > depth:
            raise BookError("book_level_beyond_depth", f"{self.symbol} {kind}: level {level}, "
                                                       f"depth {depth}")
        if action == NEW:
            if index > len(levels):
                raise BookError("book_level_gap", f"{self.symbol} {kind}: new at level "
                                                  f"{level} of {len(levels)}")
            levels.insert(index, OrderBookLevel(self._price(entry), entry.size))
            if depth and len(levels) > depth:
                del levels[depth:]
        elif index >= len(levels):
            raise BookError("book_delete_unknown_level" if action in (DELETE, DELETE_THRU,
                                                                      DELETE_FROM)
                            else "book_change_unknown_level",
                            f"{self.symbol} {kind}: action {action} at level {level} of "
                            f"{len(levels)}")
        elif action == CHANGE:
            price = levels[index].price
            if entry.price is not None and entry.price != price:
                raise BookError("book_change_price_mismatch", f"{self.symbol} {kind}: level "
                                                              f"{level} is {price}, not "
                                                              f"{entry.price}")
            levels[index] = OrderBookLevel(price, entry.size)
        elif action == OVERLAY:
            levels[index] = OrderBookLevel(self._price(entry), entry.size)
        elif action == DELETE:
            if entry.price is not None and entry.price != levels[index].price:
                raise BookError("book_delete_unknown_level", f"{self.symbol} {kind}: level "
                                                             f"{level} is not {entry.price}")
            del levels[index]
        elif action == DELETE_THRU:
            del levels[:level]
        elif action == DELETE_FROM:
            del levels[index:]
        self._sync(kind, levels)

    def _sync(self, kind: str, levels: list[OrderBookLevel]) -> None:
        """Rebuild the side's price index from the positions; the positions must be in
        strict price order (a shift applied to the wrong levels shows here)."""
        side = self.bids if kind == BID else self.asks
        side.clear()
        previous: float | None = None
        for lv in levels:
            if previous is not None and (lv.price >= previous if kind == BID
                                         else lv.price <= previous):
                raise BookError("book_level_order", f"{self.symbol} {kind}: {lv.price} "
                                                    f"after {previous}")
            previous = lv.price
            side[lv.price] = lv
        self._touched(kind)

    def clear_all(self) -> None:
        self.clear()

    def _side_top(self, kind: str, depth: int) -> tuple[OrderBookLevel, ...]:
        levels = self._levels[kind]
        return tuple(levels[:depth] if depth else levels)

    def best_bid(self) -> tuple[float, float] | None:
        levels = self._levels[BID]
        return (levels[0].price, levels[0].size) if levels else None

    def best_ask(self) -> tuple[float, float] | None:
        levels = self._levels[OFFER]
        return (levels[0].price, levels[0].size) if levels else None


_CLASSES: dict[str, type[Book]] = {
    "top_of_book": TopOfBook, "price_level": PriceLevelBook, "entry_id": EntryBook,
    "position": PositionBook, "snapshot_only": SnapshotBook,
}


def make_book(model: str, symbol: str, *, allow_negative: bool = False,
              depth: int = 0) -> Book:
    """An empty book of ``model`` (one of :data:`BOOK_MODELS`)."""
    return _CLASSES[model](symbol, allow_negative=allow_negative, depth=depth)


def detect_model(entries: list[Any]) -> str | None:
    """The model a venue's entries show: ``position`` when they carry MDPriceLevel,
    ``entry_id`` when they carry MDEntryID, else None (price-keyed: ``price_level`` or
    ``top_of_book``, which only an incremental can tell apart)."""
    has_id = False
    for entry in entries:
        if entry.type in _SIDES:
            if entry.level is not None:
                return "position"
            if entry.entry_id is not None:
                has_id = True
    return "entry_id" if has_id else None
