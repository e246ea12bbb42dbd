"""Positions and account values: what a connector holds at its venue.

A connector whose venue reports positions (IB's reqPositions, FIX RequestForPositions)
returns them with ``source="venue"``. Any other connector that takes orders derives them
from the fills it has seen (``source="fills"``): the net quantity and average cost per
account and symbol of the orders it holds, this run's and those restored from the journal,
which says nothing about positions held before or elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from stockfish_core.enums import OrderSide
from stockfish_core.orders import Order

__all__ = ["Position", "positions_from_fills"]


@attrs.frozen(slots=True)
class Position:
    """A net position: ``quantity`` > 0 long, < 0 short; ``avg_cost`` per unit of the open
    quantity (None when flat or unknown)."""

    connector: str
    symbol: str
    quantity: float
    avg_cost: float | None = None
    account: str | None = None
    #: ``venue``: reported by the venue; ``fills``: derived from the fills this process saw.
    source: str = "venue"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def positions_from_fills(connector: str, orders: Iterable[Order]) -> list[Position]:
    """Net quantity and average cost per (account, symbol) from the orders' fills, in the
    order they happened (a sale reduces a long at its cost; crossing zero opens at the
    crossing fill's price)."""
    fills = sorted(((fill.ts_event, order, fill) for order in orders for fill in order.fills),
                   key=lambda item: item[0])
    book: dict[tuple[str | None, str], tuple[float, float]] = {}  # -> (quantity, cost)
    for _, order, fill in fills:
        key = (order.account, order.symbol)
        qty, cost = book.get(key, (0.0, 0.0))
        signed = fill.quantity if order.side is OrderSide.BUY else -fill.quantity
        if qty == 0 or (qty > 0) == (signed > 0):  # opening or adding
            cost += signed * fill.price
            qty += signed
        elif abs(signed) <= abs(qty):  # reducing: the remaining keeps its average cost
            cost -= cost * (abs(signed) / abs(qty))
            qty += signed
        else:  # crossing zero: the rest opens at this fill's price
            rest = qty + signed
            qty, cost = rest, rest * fill.price
        if abs(qty) < 1e-9:
            qty, cost = 0.0, 0.0
        book[key] = (qty, cost)
    return [Position(connector, symbol, qty, cost / qty if qty else None, account, "fills")
            for (account, symbol), (qty, cost) in sorted(book.items(),
                                                         key=lambda kv: (str(kv[0][0]),
                                                                         kv[0][1]))]
