"""The simulated venue's market data in each book model: what a subscriber must hold after
every message, and the entries that take it there.

A :class:`Publisher` follows one symbol's level book (the engine's ``{price: size}`` per
side) and tells it in its model (see :mod:`stockfish_fix.book` for the client's side):

- ``top_of_book``: the best level a side; a new quote is a Change (279=1) at its price.
- ``price_level``: the top ``depth`` levels keyed by price (New / Change / Delete).
- ``entry_id``: the top ``depth`` levels as resting orders with MDEntryIDs, up to
  ``orders_per_level`` per price; size changes add, grow, shrink or delete orders (deletes
  carry no price), and now and then an order is renamed (Change with MDEntryRefID).
- ``position``: the top ``depth`` levels keyed by MDPriceLevel with the shifting actions
  (New inserts, Delete shifts up, 3 Delete Thru, 4 Delete From, 5 Overlay); a level pushed
  past ``depth`` falls off without a message, as on CME MDP 3.0.
- ``snapshot_only``: nothing incremental; the venue sends a W whenever the book changes.

Written independently of the client's books: each diff is replayed on a copy of the
subscriber's view and checked against the target before it is sent.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

__all__ = ["MD_FAULTS", "MODELS", "MDOut", "Publisher", "View"]

MODELS = ("top_of_book", "price_level", "entry_id", "position", "snapshot_only")
MD_FAULTS = ("change_unknown", "delete_unknown", "crossed", "rpt_seq_gap")
BID, ASK = "0", "1"

Level = tuple[float, float]
View = tuple[list[Level], list[Level]]  # (bids best first, asks best first)


class MDOut:
    """One entry to send: MDUpdateAction, MDEntryType, price (None: not sent), size (None:
    not sent), MDEntryID, MDEntryRefID, MDPriceLevel."""

    __slots__ = ("action", "entry_id", "level", "price", "ref_id", "size", "type")

    def __init__(self, action: str, entry_type: str, price: float | None,
                 size: float | None, *, entry_id: str | None = None,
                 ref_id: str | None = None, level: int | None = None) -> None:
        self.action = action
        self.type = entry_type
        self.price = price
        self.size = size
        self.entry_id = entry_id
        self.ref_id = ref_id
        self.level = level

    def __repr__(self) -> str:
        return (f"MDOut({self.action} {self.type} {self.size}@{self.price} "
                f"id={self.entry_id} ref={self.ref_id} level={self.level})")


def _better(side: str, a: float, b: float) -> bool:
    return a > b if side == BID else a < b


class Publisher:
    """One symbol's market data in one book model (shared by its subscribers)."""

    def __init__(self, model: str, *, depth: int = 10, orders_per_level: int = 3,
                 seed: int = 0) -> None:
        if model not in MODELS:
            raise ValueError(f"book_model: expected one of {', '.join(MODELS)}, got {model!r}")
        self.model = model
        self.depth = depth
        self.orders_per_level = max(1, orders_per_level)
        self.rng = random.Random(seed)
        self.view: View = ([], [])
        self.rpt_seq = 0  # the last RptSeq sent
        # entry_id: id -> (side, price, size), in arrival order
        self.entries: dict[str, tuple[str, float, float]] = {}
        self._entry_ids = itertools.count(1)

    # ------------------------------------------------------------------ views
    def target(self, bids: dict[float, float], asks: dict[float, float]) -> View:
        """The view a subscriber must hold of this level book."""
        keep = 1 if self.model == "top_of_book" else self.depth
        return (sorted(bids.items(), reverse=True)[:keep], sorted(asks.items())[:keep])

    def start(self, bids: dict[float, float], asks: dict[float, float]) -> None:
        """Take the book as it is now (before the first subscriber)."""
        self.view = self.target(bids, asks)
        if self.model == "entry_id":
            self.entries.clear()
            for side, levels in ((BID, self.view[0]), (ASK, self.view[1])):
                for price, size in levels:
                    for chunk in self._split(size):
                        self.entries[self._new_id()] = (side, price, chunk)

    def entry_view(self) -> list[list[Any]]:
        """entry_id: the resting entries as [id, 'bid'|'ask', price, size]."""
        return [[eid, "bid" if side == BID else "ask", price, size]
                for eid, (side, price, size) in self.entries.items()]

    def snapshot(self, last: tuple[float, float] | None) -> list[MDOut]:
        """The W entries of the current view, then the last trade (a state, not a trade)."""
        out: list[MDOut] = []
        if self.model == "entry_id":
            ordered = sorted(self.entries.items(),
                             key=lambda kv: (kv[1][0], -kv[1][1] if kv[1][0] == BID
                                             else kv[1][1]))
            for eid, (side, price, size) in ordered:
                out.append(MDOut("0", side, price, size, entry_id=eid))
        else:
            for side, levels in ((BID, self.view[0]), (ASK, self.view[1])):
                for index, (price, size) in enumerate(levels):
                    out.append(MDOut("0", side, price, size,
                                     level=index + 1 if self.model == "position" else None))
        if last is not None:
            out.append(MDOut("0", "2", last[0], last[1]))
        return out

    # ------------------------------------------------------------------ changes
    def update(self, bids: dict[float, float], asks: dict[float, float]) -> list[MDOut] | None:
        """Bring the view to the book: the X entries (``[]`` for snapshot_only when a W is
        due), or None when the subscriber's view does not change."""
        after = self.target(bids, asks)
        if after == self.view:
            return None
        before, self.view = self.view, after
        if self.model == "snapshot_only":
            return []
        out: list[MDOut] = []
        for side, old, new in ((BID, before[0], after[0]), (ASK, before[1], after[1])):
            if old == new:
                continue
            if self.model == "top_of_book":
                out += self._top_diff(side, old, new)
            elif self.model == "price_level":
                out += self._level_diff(side, old, new)
            elif self.model == "position":
                out += self._position_diff(side, old, new)
            else:
                out += self._entry_diff(side, old, new)
        if self.model == "entry_id":
            out += self._maybe_rename()
        return out

    @staticmethod
    def _top_diff(side: str, old: list[Level], new: list[Level]) -> list[MDOut]:
        if not new:
            return [MDOut("2", side, old[0][0], None)]
        return [MDOut("1" if old else "0", side, new[0][0], new[0][1])]

    @staticmethod
    def _level_diff(side: str, old: list[Level], new: list[Level]) -> list[MDOut]:
        was, now = dict(old), dict(new)
        out = [MDOut("2", side, price, None) for price in was if price not in now]
        for price, size in new:
            if price not in was:
                out.append(MDOut("0", side, price, size))
            elif was[price] != size:
                out.append(MDOut("1", side, price, size))
        return out

    def _position_diff(self, side: str, old: list[Level], new: list[Level]) -> list[MDOut]:
        """Position operations that turn ``old`` into ``new``, replayed on a working copy as
        the subscriber applies them (and checked)."""
        work = list(old)
        out: list[MDOut] = []
        wanted = {price for price, _ in new}

        def gone(index: int) -> bool:
            return work[index][0] not in wanted

        # Levels gone from the top, all better than the new best: one Delete Thru.
        top = 0
        while top < len(work) and gone(top) and (not new or _better(side, work[top][0],
                                                                     new[0][0])):
            top += 1
        if top >= 2:
            out.append(MDOut("3", side, None, None, level=top))
            del work[:top]
        index = 0
        while index < max(len(work), len(new)):
            if index >= len(new):  # what is left below goes
                action = "4" if len(work) - index >= 2 else "2"
                out.append(MDOut(action, side, None, None, level=index + 1))
                del work[index:]
                break
            price, size = new[index]
            if index >= len(work):
                out.append(MDOut("0", side, price, size, level=index + 1))
                work.append((price, size))
            elif work[index][0] == price:
                if work[index][1] != size:
                    out.append(MDOut("1", side, price, size, level=index + 1))
                    work[index] = (price, size)
            elif gone(index) and price not in {p for p, _ in work}:
                out.append(MDOut("5", side, price, size, level=index + 1))
                work[index] = (price, size)
            elif gone(index):
                out.append(MDOut("2", side, None, None, level=index + 1))
                del work[index]
                continue
            else:
                out.append(MDOut("0", side, price, size, level=index + 1))
                work.insert(index, (price, size))
                del work[self.depth:]  # pushed past the depth: falls off unannounced
            index += 1
        if work != new:
            raise AssertionError(f"position diff of {old} -> {new} gives {work}")
        return out

    def _entry_diff(self, side: str, old: list[Level], new: list[Level]) -> list[MDOut]:
        was, now = dict(old), dict(new)
        out: list[MDOut] = []
        for price in was:
            if price not in now:
                for eid in self._ids_at(side, price):
                    del self.entries[eid]
                    out.append(MDOut("2", side, None, None, entry_id=eid))
        for price, size in new:
            if price not in was:
                for chunk in self._split(size):
                    eid = self._new_id()
                    self.entries[eid] = (side, price, chunk)
                    out.append(MDOut("0", side, price, chunk, entry_id=eid))
                continue
            delta = size - was[price]
            ids = self._ids_at(side, price)
            if delta > 0 and len(ids) < self.orders_per_level:
                eid = self._new_id()
                self.entries[eid] = (side, price, delta)
                out.append(MDOut("0", side, price, delta, entry_id=eid))
            elif delta > 0:
                eid = ids[-1]
                grown = self.entries[eid][2] + delta
                self.entries[eid] = (side, price, grown)
                out.append(MDOut("1", side, price, grown, entry_id=eid))
            while delta < 0 and ids:  # the newest orders leave first
                eid = ids.pop()
                held = self.entries[eid][2]
                if held <= -delta:
                    del self.entries[eid]
                    out.append(MDOut("2", side, None, None, entry_id=eid))
                    delta += held
                else:
                    self.entries[eid] = (side, price, held + delta)
                    out.append(MDOut("1", side, price, held + delta, entry_id=eid))
                    delta = 0.0
        return out

    def _maybe_rename(self) -> list[MDOut]:
        """Now and then an order gets a new MDEntryID (a Change naming the old one)."""
        if not self.entries or self.rng.random() > 0.3:
            return []
        old = self.rng.choice(list(self.entries))
        side, price, size = self.entries.pop(old)
        new = self._new_id()
        self.entries[new] = (side, price, size)
        return [MDOut("1", side, price, size, entry_id=new, ref_id=old)]

    def _ids_at(self, side: str, price: float) -> list[str]:
        return [eid for eid, (s, p, _) in self.entries.items() if s == side and p == price]

    def _new_id(self) -> str:
        return f"E{next(self._entry_ids)}"

    def _split(self, size: float) -> list[float]:
        """A level's size as up to ``orders_per_level`` orders (whole numbers stay whole)."""
        parts = self.orders_per_level
        if parts == 1 or size != int(size) or size < parts:
            return [size]
        each = float(int(size) // parts)
        return [each] * (parts - 1) + [size - each * (parts - 1)]

    def levels_of_entries(self) -> View:
        """entry_id: the levels the entries sum to (a check of the view)."""
        sums: dict[str, dict[float, float]] = {BID: {}, ASK: {}}
        for side, price, size in self.entries.values():
            sums[side][price] = sums[side].get(price, 0.0) + size
        return (sorted(sums[BID].items(), reverse=True), sorted(sums[ASK].items()))

    # ------------------------------------------------------------------ faults
    def fault(self, kind: str) -> MDOut:
        """An entry the subscriber's book cannot take (the venue's own view unchanged)."""
        bids, asks = self.view
        far = (asks[-1][0] if asks else bids[0][0] if bids else 100.0) + 10.0
        model = self.model
        if kind == "crossed":
            ask = asks[0][0] if asks else far
            if model == "position":
                return MDOut("0", BID, ask + 0.01, 5.0, level=1)
            if model == "top_of_book":
                return MDOut("1", BID, ask + 0.01, 5.0)
            return MDOut("0", BID, ask + 0.01, 5.0,
                         entry_id="CROSSED" if model == "entry_id" else None)
        if kind == "change_unknown":
            if model == "top_of_book":
                raise ValueError("a top-of-book Change replaces the quote at any price: "
                                 "there is no unknown level to change")
            if model == "entry_id":
                return MDOut("1", ASK, far, 7.0, entry_id="NOSUCHENTRY")
            if model == "position":
                return MDOut("1", ASK, far, 7.0, level=len(asks) + 5)
            return MDOut("1", ASK, far, 7.0)
        if kind == "delete_unknown":
            if model == "entry_id":
                return MDOut("2", ASK, None, None, entry_id="NOSUCHENTRY")
            if model == "position":
                return MDOut("2", ASK, None, None, level=len(asks) + 5)
            return MDOut("2", ASK, far, None)
        raise ValueError(f"kind: expected one of {', '.join(MD_FAULTS)}, got {kind!r}")
