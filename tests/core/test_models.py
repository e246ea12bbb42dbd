"""Market data models: derived values, ordering, round trips through the shared converter."""

from __future__ import annotations

from datetime import timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stockfish_core.models import (
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)


def test_price_tick_derived_values() -> None:
    tick = PriceTick("SPY", bid=450.0, ask=450.5)
    assert tick.spread == pytest.approx(0.5)
    assert tick.mid_price == pytest.approx(450.25)
    assert PriceTick("SPY", bid=1.0).spread is None
    assert PriceTick("SPY", ask=1.0).mid_price is None


def test_models_are_frozen_and_slotted() -> None:
    tick = PriceTick("SPY", bid=1.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tick.bid = 2.0  # type: ignore[misc]
    assert not hasattr(tick, "__dict__")


def test_book_sides_are_sorted_and_best_levels() -> None:
    book = OrderBookSnapshot(
        "SPY",
        bids=[OrderBookLevel(99.0, 1), OrderBookLevel(100.0, 2), OrderBookLevel(98.0, 3)],
        asks=[OrderBookLevel(102.0, 1), OrderBookLevel(101.0, 2)],
    )
    assert [lv.price for lv in book.bids] == [100.0, 99.0, 98.0]
    assert [lv.price for lv in book.asks] == [101.0, 102.0]
    assert book.best_bid == OrderBookLevel(100.0, 2)
    assert book.best_ask == OrderBookLevel(101.0, 2)
    assert book.depth == 3
    assert book.spread == pytest.approx(1.0)
    assert book.mid_price == pytest.approx(100.5)
    assert not book.is_crossed
    crossed = OrderBookSnapshot("X", bids=[OrderBookLevel(5, 1)], asks=[OrderBookLevel(4, 1)])
    assert crossed.is_crossed
    empty = OrderBookSnapshot("X")
    assert empty.best_bid is None and empty.spread is None and empty.depth == 0


def test_times_are_ns_with_datetime_views() -> None:
    tick = PriceTick("SPY", bid=1.0, ts_event=1_700_000_000_123_456_789)
    assert tick.datetime.tzinfo is timezone.utc
    assert tick.datetime.year == 2023
    update = MarketUpdate(DataType.PRICE_TICK, "SPY", "sim", tick, 1,
                          ts_event=1_000, ts_recv=1_500)
    assert update.latency_ns == 500


def test_macro_surprise() -> None:
    assert MacroEvent("CPI", actual=3.2, forecast=3.0).surprise == pytest.approx(0.2)
    assert MacroEvent("CPI").surprise is None


PAYLOADS = [
    (DataType.PRICE_TICK, PriceTick("SPY", 1.0, 2.0, 1.5, 10, 20, 5, 1000, ts_event=5)),
    (DataType.ORDERBOOK_SNAPSHOT, OrderBookSnapshot(
        "SPY", (OrderBookLevel(1.0, 2.0, 3),), (OrderBookLevel(2.0, 1.0),), ts_event=6)),
    (DataType.OHLCV_BAR, OHLCVBar("SPY", 1, 3, 0.5, 2, 100, 60, ts_event=7)),
    (DataType.TRADE, Trade("SPY", 1.5, 10, "buy", "t1", ts_event=8)),
    (DataType.NEWS, NewsEvent("Fed holds", "body", "wire", ("SPY", "QQQ"), 0.3, ts_event=9)),
    (DataType.MACRO, MacroEvent("NFP", "US", 200.0, 180.0, 150.0, 3, ts_event=10)),
    (DataType.CUSTOM, {"anything": [1, 2, {"x": "y"}]}),
]


@pytest.mark.parametrize(("data_type", "payload"), PAYLOADS, ids=lambda v: str(v)[:20])
def test_market_update_round_trip(data_type: DataType, payload: object) -> None:
    update = MarketUpdate(data_type, getattr(payload, "symbol", ""), "src", payload, 42,
                          ts_event=11, ts_recv=12)
    data = update.to_dict()
    assert data["data_type"] == data_type.value
    assert MarketUpdate.from_dict(data) == update
    if not isinstance(payload, dict):
        assert type(payload).from_dict(payload.to_dict()) == payload  # type: ignore[attr-defined]


finite = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


@settings(max_examples=200, derandomize=True)
@given(st.text(min_size=1, max_size=8), finite, finite, st.integers(0, 2**62))
def test_tick_round_trip_property(symbol: str, bid: float, ask: float, ts: int) -> None:
    tick = PriceTick(symbol, bid=bid, ask=ask, ts_event=ts)
    update = MarketUpdate(DataType.PRICE_TICK, symbol, "s", tick, ts_event=ts, ts_recv=ts)
    assert MarketUpdate.from_dict(update.to_dict()) == update
