"""Property tests of the tick, book and order-event normalizers with IB's odd values."""

from __future__ import annotations

import math
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from stockfish_core.orders import OrderStatus
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.normalize import (
    IB_STATUS,
    fill_from_execution,
    map_order_status,
    normalize_book,
    normalize_quote,
)

# At least 10,000 generated inputs per parser (the reliability issue's bar), derandomized.
PARSER = settings(max_examples=10_000, derandomize=True, deadline=None, database=None)
# The connector-level check builds a connector per example: fewer, same coverage of kinds.
BOUNDED = settings(max_examples=1_000, derandomize=True, deadline=None, database=None)
ODD = st.sampled_from([math.nan, -1.0, 0.0, -0.0, math.inf, -math.inf, -1, 0, -99.5, 1e308])
PRICES = st.one_of(ODD, st.floats(min_value=1e-6, max_value=1e7), st.none(),
                   st.integers(-5, 10_000))
VALUES = st.one_of(PRICES, st.text(max_size=4), st.booleans())


def _is_price(v: float | None) -> bool:
    return v is None or (math.isfinite(v) and v > 0)


def _is_size(v: float | None) -> bool:
    return v is None or (math.isfinite(v) and v >= 0)


@PARSER
@given(bid=VALUES, ask=VALUES, last=VALUES, bid_size=VALUES, ask_size=VALUES,
       last_size=VALUES, volume=VALUES)
def test_quote_normalizer_never_raises_and_never_leaks_bad_values(**values: Any) -> None:
    tick, kind, sentinels = normalize_quote("SPY", **values)
    assert (tick is None) == (kind is not None)
    assert sentinels >= 0
    if tick is not None:
        assert all(_is_price(v) for v in (tick.bid, tick.ask, tick.last))
        assert any(v is not None for v in (tick.bid, tick.ask, tick.last))
        assert all(_is_size(v) for v in (tick.bid_size, tick.ask_size, tick.last_size,
                                         tick.volume))
        assert tick.bid is not None or tick.bid_size is None


@PARSER
@given(st.lists(st.floats(min_value=1e-6, max_value=1e7), min_size=7, max_size=7))
def test_the_fast_path_gives_what_the_checked_path_gives(values: list[float]) -> None:
    """A quote of floats in range takes the fast path; a NaN last size (IB's "unknown")
    sends the same quote through the checked path, which must agree on everything else."""
    fast = normalize_quote("SPY", *values, ts_event=5)
    checked = normalize_quote("SPY", *values[:5], math.nan, values[6], ts_event=5)
    assert fast[1:] == (None, 0) and checked[1:] == (None, 1)
    assert fast[0] == attrs.evolve(checked[0], last_size=values[5])


@PARSER
@given(st.lists(st.tuples(PRICES, PRICES), max_size=6),
       st.lists(st.tuples(PRICES, PRICES), max_size=6), st.integers(0, 8))
def test_book_normalizer(bids: list[Any], asks: list[Any], depth: int) -> None:
    book, kind = normalize_book("SPY", bids, asks, depth)
    assert (book is None) == (kind is not None)
    if book is not None:
        assert not book.is_crossed
        assert depth == 0 or book.depth <= depth
        for level in book.bids + book.asks:
            assert math.isfinite(level.price) and level.price > 0 and level.size > 0


@PARSER
@given(st.one_of(st.sampled_from(sorted(IB_STATUS)), st.text(max_size=12), st.none(),
                 st.integers()),
       st.one_of(st.sampled_from([0, 103, 200, 201, 202, 10148]), st.integers(-5, 20000)))
def test_order_status_mapping_is_total(status: Any, code: int) -> None:
    mapped = map_order_status(status, code)
    assert mapped is None or isinstance(mapped, OrderStatus)
    if status in ("Cancelled", "ApiCancelled"):
        assert mapped is (OrderStatus.CANCELLED if code in (0, 202, 10147, 10148)
                          else OrderStatus.REJECTED)
    if status == "Filled":
        assert mapped is None, "only executions fill an order"


@attrs.define
class _Execution:
    execId: Any  # noqa: N815 - IB's field names
    shares: Any
    price: Any
    orderId: Any = 0  # noqa: N815


@PARSER
@given(st.one_of(st.text(max_size=8), st.none(), st.integers()), VALUES, VALUES,
       st.one_of(st.integers(-3, 10**6), st.none()),
       st.one_of(ODD, st.floats(allow_nan=True), st.text(max_size=2)))
def test_execution_normalizer(exec_id: Any, shares: Any, price: Any, order_id: Any,
                              commission: Any) -> None:
    fill, kind = fill_from_execution(_Execution(exec_id, shares, price, order_id), 1,
                                     commission)
    assert (fill is None) == (kind is not None)
    if fill is not None:
        assert fill.exec_id and fill.quantity > 0 and fill.price > 0
        assert math.isfinite(fill.quantity) and math.isfinite(fill.price)
        assert math.isfinite(fill.commission)


@BOUNDED
@given(st.dictionaries(st.sampled_from(["symbol", "bid", "ask", "last", "bid_size", "ask_size",
                                        "last_size", "volume"]),
                       st.one_of(VALUES, st.just("SPY")), max_size=8))
def test_connector_counts_every_rejection_once(data: dict[str, Any]) -> None:
    connector = IBKRConnector()
    before = connector.stats.data_errors
    update = connector.on_price_tick(data)
    assert connector.stats.data_errors - before == (1 if update is None else 0)
    for normalize in (connector.on_orderbook, connector.on_news, connector.on_macro):
        before = connector.stats.data_errors
        result = normalize(data)
        assert connector.stats.data_errors - before == (1 if result is None else 0)
