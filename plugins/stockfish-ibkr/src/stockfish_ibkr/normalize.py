"""Pure normalizers from IB values to the core's models (no I/O, no ib_insync import).

IB's conventions: a price of -1 (or 0, or NaN) means "no quote"; a size of -1 or NaN means
"unknown". Those are sentinels, normalized to ``None`` and counted. Anything else that is
not a finite number in range (another negative price, an infinity, a string) is bad data: the
whole update is rejected with a kind the connector counts.
"""

from __future__ import annotations

import math
from typing import Any

from stockfish_core.models import OrderBookLevel, OrderBookSnapshot, PriceTick
from stockfish_core.orders import Fill, OrderStatus

__all__ = [
    "CANCEL_CODES",
    "IB_STATUS",
    "fill_from_execution",
    "map_order_status",
    "normalize_book",
    "normalize_quote",
]

_INF = math.inf
# Every IB order status and what it means for the core's state machine (None: no change).
IB_STATUS: dict[str, OrderStatus | None] = {
    "PendingSubmit": None, "ApiPending": None, "PendingCancel": None, "ValidationError": None,
    "PreSubmitted": OrderStatus.SUBMITTED, "Submitted": OrderStatus.SUBMITTED,
    "ApiCancelled": OrderStatus.CANCELLED, "Cancelled": OrderStatus.CANCELLED,
    "Inactive": OrderStatus.REJECTED,
    "Filled": None,  # fills (execDetails) move the order to FILLED, never the status alone
}
# Error codes that cancel an order without it being a rejection.
CANCEL_CODES = frozenset({0, 202, 10147, 10148})


class BadValueError(ValueError):
    """A value that is neither a number in range nor one of IB's sentinels."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _number(value: Any, kind: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValueError(kind)
    return float(value)


def _price(value: Any) -> tuple[float | None, int]:
    """(price or None, 1 if it was a sentinel)."""
    v = _number(value, "bad_price")
    if v > 0.0 and v < _INF:
        return v, 0
    if math.isnan(v) or v in (-1.0, 0.0):  # IB's -1 or 0: no quote
        return None, 1
    raise BadValueError("bad_price")


def _size(value: Any) -> tuple[float | None, int]:
    v = _number(value, "bad_size")
    if v >= 0.0 and v < _INF:
        return v, 0
    if math.isnan(v) or v == -1.0:
        return None, 1
    raise BadValueError("bad_size")


def normalize_quote(  # noqa: PLR0917 - the quote's fields, in IB's order
    symbol: str, bid: Any, ask: Any, last: Any, bid_size: Any = None, ask_size: Any = None,
    last_size: Any = None, volume: Any = None, ts_event: int = 0,
) -> tuple[PriceTick | None, str | None, int]:
    """(tick, rejection kind, sentinel count). ``tick`` is None exactly when rejected."""
    # Fast path, the usual quote (hot: once per ticker per network read): every value a
    # float in range, so no sentinel and nothing to reject. NaN fails the comparisons and
    # takes the checked path below, like anything else unusual.
    if (type(bid) is type(ask) is type(last) is type(bid_size) is type(ask_size)
            is type(last_size) is type(volume) is float
            and 0.0 < bid < _INF and 0.0 < ask < _INF and 0.0 < last < _INF
            and 0.0 <= bid_size < _INF and 0.0 <= ask_size < _INF
            and 0.0 <= last_size < _INF and 0.0 <= volume < _INF
            and type(symbol) is str and symbol):
        if ts_event:
            return PriceTick(symbol, bid, ask, last, bid_size, ask_size, last_size, volume,
                             ts_event), None, 0
        return PriceTick(symbol, bid, ask, last, bid_size, ask_size, last_size,
                         volume), None, 0
    if not isinstance(symbol, str) or not symbol:
        return None, "bad_symbol", 0
    try:
        b, s1 = _price(bid)
        a, s2 = _price(ask)
        lp, s3 = _price(last)
        bs, s4 = _size(bid_size)
        asz, s5 = _size(ask_size)
        ls, s6 = _size(last_size)
        vol, s7 = _size(volume)
    except BadValueError as exc:
        return None, exc.kind, 0
    sentinels = s1 + s2 + s3 + s4 + s5 + s6 + s7
    if b is None and a is None and lp is None:
        return None, "empty_quote", sentinels
    if b is None:
        bs = None
    if a is None:
        asz = None
    if ts_event:
        return PriceTick(symbol, b, a, lp, bs, asz, ls, vol, ts_event), None, sentinels
    return PriceTick(symbol, b, a, lp, bs, asz, ls, vol), None, sentinels


def _levels(raw: Any, depth: int) -> tuple[OrderBookLevel, ...]:
    out = []
    for item in raw:
        if isinstance(item, (tuple, list)):
            price, size = item[0], item[1]
        else:
            price, size = item.price, item.size
        p = _number(price, "bad_book")
        q = _number(size, "bad_book")
        if not (p > 0.0 and p < _INF) or not (q >= 0.0 and q < _INF):
            raise BadValueError("bad_book")
        if q > 0.0:
            out.append(OrderBookLevel(p, q))
    return tuple(out[:depth]) if depth > 0 else tuple(out)


def normalize_book(symbol: str, bids: Any, asks: Any, depth: int = 0,
                   ts_event: int = 0) -> tuple[OrderBookSnapshot | None, str | None]:
    """(book, rejection kind): levels with a bad price or size reject the book; empty
    levels (size 0) are dropped; a crossed or empty book is rejected."""
    if not isinstance(symbol, str) or not symbol:
        return None, "bad_symbol"
    try:
        b = _levels(bids, depth)
        a = _levels(asks, depth)
    except BadValueError as exc:
        return None, exc.kind
    except (TypeError, AttributeError, IndexError, KeyError):
        return None, "bad_book"
    if not b and not a:
        return None, "empty_book"
    book = OrderBookSnapshot(symbol, b, a, ts_event) if ts_event else \
        OrderBookSnapshot(symbol, b, a)
    if book.is_crossed:
        return None, "crossed_book"
    return book, None


def map_order_status(status: Any, error_code: int = 0) -> OrderStatus | None:
    """The core status for an IB order status; a cancel caused by an order error (anything
    but 202 'order cancelled') is a rejection. Unknown statuses map to None."""
    if not isinstance(status, str):
        return None
    mapped = IB_STATUS.get(status)
    if mapped is OrderStatus.CANCELLED and error_code not in CANCEL_CODES:
        return OrderStatus.REJECTED
    return mapped


def fill_from_execution(execution: Any, ts_event: int = 0,
                        commission: float = 0.0) -> tuple[Fill | None, str | None]:
    """A core Fill from an IB Execution (anything with execId/shares/price/orderId)."""
    try:
        exec_id = execution.execId
        shares = _number(execution.shares, "bad_execution")
        price = _number(execution.price, "bad_execution")
        order_id = execution.orderId
    except BadValueError as exc:
        return None, exc.kind
    except AttributeError:
        return None, "bad_execution"
    if not isinstance(exec_id, str) or not exec_id:
        return None, "bad_execution"
    if not (shares > 0.0 and shares < _INF) or not (price > 0.0 and price < _INF):
        return None, "bad_execution"
    if not isinstance(commission, (int, float)) or not math.isfinite(commission) \
            or abs(commission) >= 1e300:
        commission = 0.0
    venue_id = str(order_id) if isinstance(order_id, int) and order_id > 0 else None
    if ts_event:
        return Fill(exec_id, shares, price, ts_event, float(commission), venue_id), None
    return Fill(exec_id, shares, price, commission=float(commission),
                venue_order_id=venue_id), None
