"""The simulated venue's matching engine: a random-walk price-level book per symbol, orders
that match against it, and the venue's own record of every order and fill.

Pure Python and protocol-free: it returns *events* (dicts) that the venue turns into FIX
messages. The caller holds the venue's lock around every call.
"""

from __future__ import annotations

import collections
import itertools
import random
from typing import Any

__all__ = ["Engine", "VenueOrder"]

TICK = 0.01


def cents(price: float) -> int:
    return round(price * 100)


class VenueOrder:
    """One order as the venue sees it."""

    __slots__ = (
        "avg_px",
        "cl_ord_id",
        "cum_qty",
        "fills",
        "first_cl_ord_id",
        "ord_type",
        "order_id",
        "price",
        "qty",
        "side",
        "status",
        "stop_px",
        "symbol",
        "tif",
        "triggered",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))
        self.cum_qty = 0.0
        self.avg_px = 0.0
        self.fills = []
        self.status = "0"
        self.triggered = False

    @property
    def leaves(self) -> float:
        return 0.0 if self.status in ("2", "4", "8", "C") else max(self.qty - self.cum_qty, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in ("0", "1", "A", "5")


class Engine:
    """Books, orders and fills. ``events`` out: ``{"kind": ..., ...}`` for the venue."""

    def __init__(self, symbols: tuple[str, ...], *, seed: int = 0, levels: int = 5,
                 top_size: float = 100.0, start_prices: dict[str, float] | None = None,
                 tag: str = "", spread_symbols: tuple[str, ...] = ()) -> None:
        self.symbols = tuple(symbols) + tuple(s for s in spread_symbols if s not in symbols)
        # Spreads: prices walk through zero into the negative.
        self.spreads = frozenset(spread_symbols)
        self.rng = random.Random(seed)
        self.levels = levels
        self.top_size = top_size
        self.tag = tag
        base = start_prices or {}
        self.mid_cents = {s: cents(base.get(s, 0.0 if s in self.spreads else 100.0 + 50.0 * i))
                          for i, s in enumerate(self.symbols)}
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {
            s: self._make_book(s) for s in self.symbols}
        self.last: dict[str, float | None] = dict.fromkeys(self.symbols)
        self.last_qty: dict[str, float] = dict.fromkeys(self.symbols, 0.0)
        self.orders: dict[str, VenueOrder] = {}  # every ClOrdID (original and later) -> order
        self.by_order_id: dict[str, VenueOrder] = {}
        self.working: list[VenueOrder] = []
        self.orders_received: collections.Counter[str] = collections.Counter()
        # ClOrdIDs a client used a second time (D, F or G): each refused, and counted;
        # ``forget_orders`` (a venue restart) keeps this record.
        self.duplicate_cl_ord_ids: collections.Counter[str] = collections.Counter()
        self.cl_ord_ids_seen: set[str] = set()
        self.fills: list[dict[str, Any]] = []
        self._order_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)

    # -- book -------------------------------------------------------------------------
    def _make_book(self, symbol: str) -> tuple[dict[float, float], dict[float, float]]:
        mid = self.mid_cents[symbol]
        bids = {round((mid - 1 - i) / 100, 2): float(100 * (i + 1) + self.rng.randrange(0, 5))
                for i in range(self.levels)}
        asks = {round((mid + 1 + i) / 100, 2): float(100 * (i + 1) + self.rng.randrange(0, 5))
                for i in range(self.levels)}
        return bids, asks

    def best(self, symbol: str) -> tuple[float, float]:
        bids, asks = self.books[symbol]
        return max(bids), min(asks)

    def step(self) -> None:
        """Move every book one random step (the mid by a tick or not at all, sizes anew);
        the venue's publishers tell each subscriber what changed in its book model."""
        for symbol in self.symbols:
            moved = self.mid_cents[symbol] + self.rng.choice((-1, 0, 1))
            self.mid_cents[symbol] = moved if symbol in self.spreads \
                else max(moved, self.levels + 2)
            self.books[symbol] = self._make_book(symbol)

    # -- orders -----------------------------------------------------------------------
    def new_order(self, cl_ord_id: str,  # noqa: PLR0917 - the order's FIX fields
                  symbol: str, side: str, qty: float, ord_type: str,
                  price: float | None, stop_px: float | None, tif: str) -> list[dict[str, Any]]:
        self.orders_received[cl_ord_id] += 1
        if not self._first_use(cl_ord_id) or cl_ord_id in self.orders:
            return [{"kind": "reject", "cl_ord_id": cl_ord_id, "symbol": symbol, "side": side,
                     "qty": qty, "text": "duplicate ClOrdID", "reason": None}]
        problem, reason_code = None, None
        if symbol not in self.books:
            problem, reason_code = f"unknown symbol {symbol}", "1"
        elif not qty > 0:
            problem = "bad quantity"
        elif ord_type not in ("1", "2", "3", "4"):
            problem = f"unsupported order type {ord_type}"
        elif ord_type in ("2", "4") and not (price and price > 0):
            problem = "bad price"
        elif ord_type in ("3", "4") and not (stop_px and stop_px > 0):
            problem = "bad stop price"
        if problem is not None:
            return [{"kind": "reject", "cl_ord_id": cl_ord_id, "symbol": symbol, "side": side,
                     "qty": qty, "text": problem, "reason": reason_code}]
        order = VenueOrder(order_id=f"V{self.tag}{next(self._order_ids)}", cl_ord_id=cl_ord_id,
                           first_cl_ord_id=cl_ord_id, symbol=symbol, side=side, qty=qty,
                           ord_type=ord_type, price=price, stop_px=stop_px, tif=tif)
        self.orders[cl_ord_id] = order
        self.by_order_id[order.order_id] = order
        events: list[dict[str, Any]] = [{"kind": "new", "order": order}]
        self.working.append(order)
        events += self._match(order)
        if order.is_open and tif in ("3", "4"):  # IOC / FOK: nothing rests
            events += self._cancel(order, order.cl_ord_id, "immediate or cancel")
        return events

    def find(self, cl_ord_id: str | None, order_id: str | None = None) -> VenueOrder | None:
        order = self.orders.get(cl_ord_id) if cl_ord_id else None
        if order is None and order_id:
            order = self.by_order_id.get(order_id)
        return order

    def _duplicate(self, cl_ord_id: str, orig: str, order: VenueOrder | None,
                   response_to: str) -> list[dict[str, Any]]:
        """A cancel / replace reusing a ClOrdID the venue has seen: refused."""
        return [{"kind": "cancel_reject", "order": order, "cl_ord_id": cl_ord_id,
                 "orig": orig, "response_to": response_to, "text": "duplicate ClOrdID"}]

    def cancel(self, orig: str, cl_ord_id: str, order_id: str | None) -> list[dict[str, Any]]:
        order = self.find(orig, order_id)
        if not self._first_use(cl_ord_id):
            return self._duplicate(cl_ord_id, orig, order, "1")
        if order is None or not order.is_open:
            return [{"kind": "cancel_reject", "order": order, "cl_ord_id": cl_ord_id,
                     "orig": orig, "response_to": "1",
                     "text": "unknown order" if order is None else "too late to cancel"}]
        self.orders[cl_ord_id] = order
        return self._cancel(order, cl_ord_id, None, orig)

    def _cancel(self, order: VenueOrder, cl_ord_id: str, text: str | None,
                orig: str | None = None) -> list[dict[str, Any]]:
        order.status = "4"
        if order in self.working:
            self.working.remove(order)
        prior, order.cl_ord_id = order.cl_ord_id, cl_ord_id
        return [{"kind": "canceled", "order": order, "orig": orig or prior, "text": text}]

    def replace(self, orig: str, cl_ord_id: str, order_id: str | None, qty: float | None,
                price: float | None) -> list[dict[str, Any]]:
        order = self.find(orig, order_id)
        if not self._first_use(cl_ord_id):
            return self._duplicate(cl_ord_id, orig, order, "2")
        if order is None or not order.is_open:
            return [{"kind": "cancel_reject", "order": order, "cl_ord_id": cl_ord_id,
                     "orig": orig, "response_to": "2",
                     "text": "unknown order" if order is None else "too late to replace"}]
        if qty is not None and qty <= order.cum_qty:
            return [{"kind": "cancel_reject", "order": order, "cl_ord_id": cl_ord_id,
                     "orig": orig, "response_to": "2", "text": "quantity below filled"}]
        if price is not None and order.ord_type in ("2", "4"):
            order.price = price
        if qty is not None:
            order.qty = qty
        prior, order.cl_ord_id = order.cl_ord_id, cl_ord_id
        self.orders[cl_ord_id] = order
        events: list[dict[str, Any]] = [{"kind": "replaced", "order": order, "orig": prior}]
        return events + self._match(order)

    def _first_use(self, cl_ord_id: str) -> bool:
        """Record ``cl_ord_id``; False (counted) if a client used it before."""
        if cl_ord_id in self.cl_ord_ids_seen:
            self.duplicate_cl_ord_ids[cl_ord_id] += 1
            return False
        self.cl_ord_ids_seen.add(cl_ord_id)
        return True

    def forget_orders(self) -> int:
        """Lose every order, as a venue restart without persistence does (fills stay in the
        record); returns how many orders were working."""
        working = len(self.working)
        self.orders.clear()
        self.by_order_id.clear()
        self.working.clear()
        return working

    def tick_orders(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for order in list(self.working):
            events += self._match(order)
        return events

    def _match(self, order: VenueOrder) -> list[dict[str, Any]]:
        if not order.is_open:
            return []
        bid, ask = self.best(order.symbol)
        buy = order.side == "1"
        if order.ord_type in ("3", "4") and not order.triggered:
            if (buy and ask >= order.stop_px) or (not buy and bid <= order.stop_px):
                order.triggered = True
            else:
                return []
        price = ask if buy else bid
        if order.ord_type in ("2", "4") and ((buy and price > order.price)
                                             or (not buy and price < order.price)):
            return []
        qty = min(order.qty - order.cum_qty, self.top_size)
        return self.fill(order, qty, price)

    def fill(self, order: VenueOrder, qty: float, price: float) -> list[dict[str, Any]]:
        """Execute ``qty`` of ``order`` at ``price`` (also the tests' way to make a fill)."""
        qty = min(qty, order.qty - order.cum_qty)
        if qty <= 0 or not order.is_open:
            return []
        total = order.avg_px * order.cum_qty + price * qty
        order.cum_qty += qty
        order.avg_px = total / order.cum_qty
        order.status = "2" if order.cum_qty >= order.qty - 1e-9 else "1"
        if order.status == "2" and order in self.working:
            self.working.remove(order)
        exec_id = f"X{self.tag}{next(self._exec_ids)}"
        fill = {"exec_id": exec_id, "client_order_id": order.first_cl_ord_id,
                "cl_ord_id": order.cl_ord_id, "quantity": qty, "price": price,
                "order_id": order.order_id, "cum_qty": order.cum_qty,
                "avg_px": order.avg_px, "status": order.status}
        order.fills.append(fill)
        self.fills.append(fill)
        self.last[order.symbol] = price
        self.last_qty[order.symbol] = qty
        return [{"kind": "fill", "order": order, "fill": fill}]

    def next_exec_id(self) -> str:
        return f"X{self.tag}{next(self._exec_ids)}"
