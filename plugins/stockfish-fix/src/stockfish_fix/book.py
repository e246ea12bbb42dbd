"""An incrementally maintained order book per symbol, built from W snapshots and X updates.

Levels are keyed by price (the venue sends price-level books: an entry's action says whether
the level is new, changed or gone). Written by the QuickFIX thread only; no locking.

Each side holds the immutable :class:`OrderBookLevel` objects the snapshots hand out, and
the last snapshot's side tuples are kept until that side changes: an update touching one
level makes one new object, not one per level of every snapshot.
"""

from __future__ import annotations

from typing import Any

from stockfish_core.models import OrderBookLevel, OrderBookSnapshot, PriceTick, Trade

__all__ = ["Book", "BookError"]

BID, OFFER, TRADE = "0", "1", "2"


class BookError(ValueError):
    """An update the book cannot apply (``kind`` for the counters)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Book:
    """Bids and offers of one symbol as ``{price: OrderBookLevel}``, and the last trade."""

    __slots__ = ("_ask_top", "_bid_top", "asks", "bids", "last", "last_size", "symbol",
                 "updates", "volume")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[float, OrderBookLevel] = {}
        self.asks: dict[float, OrderBookLevel] = {}
        # (depth, levels) of the last snapshot per side; None once that side changed
        self._bid_top: tuple[int, tuple[OrderBookLevel, ...]] | None = None
        self._ask_top: tuple[int, tuple[OrderBookLevel, ...]] | None = None
        self.last: float | None = None
        self.last_size: float | None = None
        self.volume = 0.0
        self.updates = 0

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

    def apply_snapshot(self, entries: list[Any]) -> list[Trade]:
        """Replace the book with a full refresh; returns the trades the snapshot carried."""
        self.clear()
        return self.apply(entries)

    def apply(self, entries: list[Any]) -> list[Trade]:
        """Apply entries (``action``, ``type``, ``price``, ``size``); returns new trades.

        Deleting a level that is not there, or changing one that does not exist, raises
        :class:`BookError` after the other entries of the message have been applied: the book
        stays as consistent as the venue made it, and the caller counts the problem.
        """
        trades: list[Trade] = []
        problem: BookError | None = None
        for entry in entries:
            kind = entry.type
            if kind == TRADE:
                self.last = entry.price
                self.last_size = entry.size
                self.volume += entry.size
                trades.append(Trade(self.symbol, entry.price, entry.size))
                continue
            side = self.bids if kind == BID else self.asks if kind == OFFER else None
            if side is None:
                continue  # other entry types (opening price, imbalance, ...) are not kept
            action = entry.action
            price = entry.price
            if action == "2":
                if side.pop(price, None) is None and problem is None:
                    problem = BookError("book_delete_unknown_level", f"{price}")
            elif entry.size <= 0:
                side.pop(price, None)
            else:
                if action == "1" and price not in side and problem is None:
                    problem = BookError("book_change_unknown_level", f"{price}")
                side[price] = OrderBookLevel(price, entry.size)
            self._touched(kind)
        self.updates += 1
        if problem is not None:
            raise problem
        return trades

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
            top = self._bid_top = (depth, _top(self.bids, depth, True))
        bids = top[1]
        top = self._ask_top
        if top is None or top[0] != depth:
            top = self._ask_top = (depth, _top(self.asks, depth, False))
        extra = {} if ts is None else {"ts_event": ts}
        return OrderBookSnapshot(self.symbol, bids, top[1], **extra)

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
        return ([(p, lv.size) for p, lv in sorted(self.bids.items(), reverse=True)],
                [(p, lv.size) for p, lv in sorted(self.asks.items())])


def _top(side: dict[float, OrderBookLevel], depth: int,
         descending: bool) -> tuple[OrderBookLevel, ...]:
    prices = sorted(side, reverse=descending)
    if depth:
        prices = prices[:depth]
    return tuple(map(side.__getitem__, prices))
