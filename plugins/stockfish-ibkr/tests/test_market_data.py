"""Ticks, depth, bars and bulletins from the fake TWS arrive normalized."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from stockfish_core.models import DataType, NewsEvent, OHLCVBar, OrderBookSnapshot, PriceTick
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.pacing import PacingError
from stockfish_ibkr.testing import FakeTWS

Live = tuple[IBKRConnector, Recorder]


def _payloads(recorder: Recorder, data_type: DataType, symbol: str) -> list[object]:
    return [u.payload for u in list(recorder.updates)
            if u.data_type is data_type and u.symbol == symbol]


@pytest.mark.parametrize("symbol", ["SPY", "EUR/USD", "BTC"])
def test_quotes_are_normalized(live: Live, symbol: str) -> None:
    connector, recorder = live
    assert connector.subscribe_price(symbol)
    assert recorder.wait_updates(5, 10.0, DataType.PRICE_TICK, symbol)
    ticks = _payloads(recorder, DataType.PRICE_TICK, symbol)
    for tick in ticks:
        assert isinstance(tick, PriceTick)
        assert tick.symbol == symbol
        for value in (tick.bid, tick.ask, tick.last):
            assert value is None or (math.isfinite(value) and value > 0)
        for size in (tick.bid_size, tick.ask_size, tick.last_size, tick.volume):
            assert size is None or (math.isfinite(size) and size >= 0)
    assert any(t.bid and t.ask and t.last and t.bid_size for t in ticks)  # type: ignore[attr-defined]
    assert connector.get_stats()["data_errors"] == 0


def test_index_quotes_turn_ib_minus_one_into_none(live: Live) -> None:
    connector, recorder = live
    connector.subscribe_price("SPX")
    assert recorder.wait_updates(3, 10.0, DataType.PRICE_TICK, "SPX")
    ticks = _payloads(recorder, DataType.PRICE_TICK, "SPX")
    assert all(isinstance(t, PriceTick) and t.bid is None and t.ask is None for t in ticks)
    assert all(t.last and t.last > 0 for t in ticks)  # type: ignore[union-attr]
    stats = connector.get_stats()
    assert stats["ibkr"]["sentinel_values"] > 0, "IB's -1 prices are counted"
    assert stats["data_errors"] == 0


def test_depth_arrives_as_sorted_uncrossed_books(live: Live) -> None:
    connector, recorder = live
    assert connector.subscribe_orderbook("QQQ", 5)
    assert recorder.wait_updates(5, 10.0, DataType.ORDERBOOK_SNAPSHOT, "QQQ")
    books = _payloads(recorder, DataType.ORDERBOOK_SNAPSHOT, "QQQ")
    full = [b for b in books if isinstance(b, OrderBookSnapshot) and b.depth == 5]
    assert full, "five-level books arrive"
    for book in full:
        assert not book.is_crossed
        assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids),
                                                        reverse=True)
        assert all(lv.size > 0 for lv in book.bids + book.asks)


def test_depth_one_is_the_top_of_book(live: Live) -> None:
    connector, recorder = live
    assert connector.subscribe_orderbook("IWM", 1)
    assert recorder.wait_updates(3, 10.0, DataType.ORDERBOOK_SNAPSHOT, "IWM")
    book = _payloads(recorder, DataType.ORDERBOOK_SNAPSHOT, "IWM")[-1]
    assert isinstance(book, OrderBookSnapshot)
    assert len(book.bids) == len(book.asks) == 1
    assert recorder.count(DataType.PRICE_TICK, "IWM") == 0, "no ticks were asked for"


def test_bad_depth_is_refused(live: Live) -> None:
    connector, _ = live
    with pytest.raises(Exception, match="depth"):
        connector.subscribe_orderbook("SPY", 0)


def test_realtime_bars(live: Live) -> None:
    connector, recorder = live
    assert connector.subscribe_bars("SPY")
    assert recorder.wait_updates(2, 10.0, DataType.OHLCV_BAR, "SPY")
    bar = _payloads(recorder, DataType.OHLCV_BAR, "SPY")[-1]
    assert isinstance(bar, OHLCVBar)
    assert bar.interval_s == 5
    assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_news_bulletins(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    assert connector.subscribe_news()
    assert connector.subscribe_macro() is False
    assert recorder.wait(lambda: tws.subscription_count("bulletins") == 1, 5.0)
    tws.publish_bulletin("Trading halted in XYZ", exchange="NYSE")
    assert recorder.wait(lambda: recorder.count(DataType.NEWS) == 1, 10.0)
    news = _payloads(recorder, DataType.NEWS, "")[-1]
    assert isinstance(news, NewsEvent)
    assert news.headline == "Trading halted in XYZ" and news.source == "NYSE"


def test_delayed_market_data_type(make_connector: Callable[..., IBKRConnector],
                                  router: DataFeedRouter) -> None:
    connector = make_connector(market_data_type="delayed")
    recorder = Recorder(connector, router)
    assert connector.connect()
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, 10.0, DataType.PRICE_TICK, "SPY")
    recorder.close()


def test_historical_bars_and_identical_request_pacing(live: Live, tws: FakeTWS) -> None:
    connector, _ = live
    bars = connector.get_historical_bars("SPY", duration="1 D", bar_size="1 hour")
    assert len(bars) == 24
    assert all(isinstance(b, OHLCVBar) and b.interval_s == 3600 for b in bars)
    assert [b.ts_event for b in bars] == sorted(b.ts_event for b in bars)
    again = connector.get_historical_bars("SPY", duration="1 D", bar_size="1 hour")
    assert again == bars
    assert tws.stats()["historical_requests"] == 1, "an identical request never reaches TWS"
    assert connector.get_stats()["ibkr"]["historical_cache_hits"] == 1


def test_historical_window_limit_refuses_before_tws(
        make_connector: Callable[..., IBKRConnector], tws: FakeTWS) -> None:
    connector = make_connector(historical_max_requests=2, historical_window=60.0)
    assert connector.connect()
    for duration in ("1 D", "2 D"):
        connector.get_historical_bars("SPY", duration=duration, bar_size="1 day")
    with pytest.raises(PacingError) as info:
        connector.get_historical_bars("SPY", duration="3 D", bar_size="1 day", timeout=0.2)
    assert info.value.retry_after > 0
    assert tws.stats()["historical_requests"] == 2
    assert tws.stats().get("pacing_violations", 0) == 0


def test_unsubscribe_cancels_at_tws(live: Live) -> None:
    connector, recorder = live
    connector.subscribe_price("SPY")
    connector.subscribe_orderbook("SPY", 3)
    assert recorder.wait_updates(3, 10.0, DataType.ORDERBOOK_SNAPSHOT, "SPY")
    connector.unsubscribe("SPY")
    assert "SPY" not in connector.subscribed_symbols
    connector.subscribe_price("QQQ")
    assert recorder.wait_updates(3, 10.0, DataType.PRICE_TICK, "QQQ")
    settled = recorder.count(symbol="SPY")
    assert recorder.wait_updates(6, 10.0, DataType.PRICE_TICK, "QQQ")
    assert recorder.count(symbol="SPY") == settled


def test_a_bad_price_overwritten_in_the_same_packet_is_still_counted(live: Live,
                                                                     tws: FakeTWS) -> None:
    """ib_insync keeps each field's last value: a bad bid followed by a good one in one
    packet never reaches the quote; the connector counts it from the packet's ticks (the
    conformance kit's bad-input test failed about 1 run in 9 without this)."""
    connector, recorder = live
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, 10.0, DataType.PRICE_TICK, "SPY")
    before = connector.get_stats()["data_errors_by_kind"].get("bad_price", 0)
    tws.send_garbage(then_quote=True)
    assert recorder.wait(lambda: connector.get_stats()["data_errors_by_kind"].get(
        "bad_price", 0) >= before + 2, 10.0)  # the bid of -99 and the ask of -98
    assert recorder.wait_updates(3, 10.0, DataType.PRICE_TICK, "SPY")
    for tick in _payloads(recorder, DataType.PRICE_TICK, "SPY"):
        assert isinstance(tick, PriceTick)
        assert all(v is None or v > 0 for v in (tick.bid, tick.ask, tick.last))
    assert connector.get_stats()["data_errors_by_kind"]["bad_price"] == before + 2
