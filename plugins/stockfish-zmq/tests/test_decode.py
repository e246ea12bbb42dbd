"""The frame decoder: the seed's format, timestamps in every form, and rejections by kind."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from stockfish_core.models import DataType, OrderBookSnapshot, PriceTick, Trade
from stockfish_zmq.decode import FrameDecoder, FrameError, parse_timestamp

NS_2026 = 1_768_818_645_123_000_000  # 2026-01-19T10:30:45.123Z


def frame(**fields: Any) -> bytes:
    msg = {"type": "ticker", "symbol": "BTCUSD", "sequence": 12345,
           "data": {"bid": 1.0, "ask": 2.0}}
    msg.update(fields)
    return orjson.dumps(msg)


def test_seed_example_ticker() -> None:
    update = FrameDecoder("z").decode(frame(
        data={"bid": 100.5, "ask": 100.6, "last": 100.55, "bid_size": 2, "ask_size": 3,
              "volume": 1200}, timestamp="2026-01-19T10:30:45.123Z"))
    assert update is not None
    assert update.data_type is DataType.PRICE_TICK and update.sequence == 12345
    tick = update.payload
    assert isinstance(tick, PriceTick)
    assert (tick.bid, tick.ask, tick.last, tick.volume) == (100.5, 100.6, 100.55, 1200.0)
    assert update.ts_event == tick.ts_event == NS_2026


@pytest.mark.parametrize("stamp", ["2026-01-19T10:30:45.123Z", "2026-01-19T10:30:45.123+00:00",
                                   "2026-01-19T11:30:45.123+01:00", 1_768_818_645.123,
                                   1_768_818_645_123, 1_768_818_645_123_000, NS_2026])
def test_timestamps_in_every_form(stamp: Any) -> None:
    assert abs(parse_timestamp(stamp) - NS_2026) < 1_000  # float rounding below a µs


@pytest.mark.parametrize("stamp", ["yesterday", -5, True, [1], float("inf"), 1e30])
def test_bad_timestamps(stamp: Any) -> None:
    with pytest.raises(FrameError) as err:
        parse_timestamp(stamp)
    assert err.value.kind == "bad_timestamp"


def test_depth_trade_custom_and_heartbeat() -> None:
    decoder = FrameDecoder("z")
    book = decoder.decode(frame(type="depth", data={"bids": [[99, 1], [100, 2]],
                                                    "asks": [[101, 1], [102, 5]]}))
    assert book is not None and isinstance(book.payload, OrderBookSnapshot)
    assert book.payload.best_bid.price == 100 and book.payload.best_ask.price == 101
    trade = decoder.decode(frame(type="trade", data={"price": 10, "size": 2, "side": "SELL",
                                                     "trade_id": 77}))
    assert trade is not None and trade.payload == Trade("BTCUSD", 10.0, 2.0, "sell", "77",
                                                        trade.payload.ts_event)
    custom = decoder.decode(frame(type="custom", data={"oi": 5}))
    assert custom is not None and custom.data_type is DataType.CUSTOM
    assert custom.payload == {"oi": 5}
    assert decoder.decode(b'{"type": "heartbeat"}') is None


@pytest.mark.parametrize(("raw", "kind"), [
    (b"{", "invalid_json"),
    (b"\xff\xfe{}", "not_utf8"),
    (b"[]", "not_an_object"),
    (frame(symbol=None), "missing_field"),
    (frame(symbol=5), "bad_symbol"),
    (frame(sequence=None), "missing_field"),
    (frame(sequence=-1), "bad_sequence"),
    (frame(sequence=1.5), "bad_sequence"),
    (frame(data=None), "missing_field"),
    (frame(data=[1]), "wrong_type"),
    (frame(type="bogus"), "unknown_type"),
    (frame(data={}), "missing_field"),
    (frame(data={"bid": "1"}), "wrong_type"),
    (frame(data={"bid": True}), "wrong_type"),
    (frame(data={"bid": -1}), "bad_price"),
    (frame(data={"bid": 0}), "bad_price"),
    (frame(data={"bid": 1, "bid_size": -1}), "bad_size"),
    (frame(data={"bid": 2, "ask": 1}), "crossed_quote"),
    (frame(type="depth", data={"bids": [[2, 1]], "asks": [[1, 1]]}), "crossed_book"),
    (frame(type="depth", data={"bids": [[2]]}), "wrong_type"),
    (frame(type="depth", data={"bids": "x"}), "wrong_type"),
    (frame(type="depth", data={}), "missing_field"),
    (frame(type="trade", data={"price": 1}), "missing_field"),
    (frame(type="trade", data={"price": 1, "size": 1, "side": "up"}), "bad_side"),
    (frame(timestamp="noon"), "bad_timestamp"),
])
def test_rejections_are_named(raw: bytes, kind: str) -> None:
    with pytest.raises(FrameError) as err:
        FrameDecoder("z").decode(raw)
    assert err.value.kind == kind


@pytest.mark.parametrize("raw", [
    b'{"type":"ticker","symbol":"X","sequence":1,"data":{"bid":1},"venue":"\xff"}',
    b'{"type":"ticker","symbol":"X","sequence":1,"data":{"bid":1,"note":"\xfe"}}',
    b'{"type":"ticker","symbol":"X","sequence":1,"data":{"bid":1},"source":"\xff"}',
])
def test_invalid_utf8_anywhere_refuses_the_frame(raw: bytes) -> None:
    """Even in a field nobody reads: the fast path does not skip what it does not know."""
    decoder = FrameDecoder("z")
    for decode in (decoder.decode, decoder.decode_checked):
        with pytest.raises(FrameError) as err:
            decode(raw)
        assert err.value.kind == "not_utf8"


def test_the_usual_ticker_takes_the_fast_path_with_the_reference_result() -> None:
    """Ints arrive as floats, as the field-by-field path makes them; the republisher's
    extra fields are allowed; an unknown field takes the reference path, same result."""
    decoder = FrameDecoder("z")
    data = {"bid": 100, "ask": 100.5, "last": 100.25, "bid_size": 3, "ask_size": 4,
            "last_size": 0, "volume": 1200}
    for raw in (frame(data=data, timestamp=1_768_818_645_123),
                frame(data=data, timestamp=1_768_818_645_123, source="feed",
                      source_sequence=9),
                frame(data={**data, "exchange": "X"}, timestamp=1_768_818_645_123)):
        fast, checked = decoder.decode(raw), decoder.decode_checked(raw)
        assert fast is not None and checked is not None
        assert fast.payload == checked.payload == PriceTick(
            "BTCUSD", 100.0, 100.5, 100.25, 3.0, 4.0, 0.0, 1200.0, NS_2026)
        assert all(type(v) is float for v in (fast.payload.bid, fast.payload.bid_size,
                                              fast.payload.last_size))
        assert (fast.sequence, fast.ts_event) == (checked.sequence, checked.ts_event)


def test_oversized_frames_are_refused_before_parsing() -> None:
    with pytest.raises(FrameError) as err:
        FrameDecoder("z", max_message_size=100).decode(b" " * 101)
    assert err.value.kind == "oversized"


def test_sequence_is_optional_when_sequencing_is_off() -> None:
    update = FrameDecoder("z", require_sequence=False).decode(frame(sequence=None))
    assert update is not None and update.sequence == 0


def test_nan_cannot_sneak_in() -> None:
    with pytest.raises(FrameError):
        FrameDecoder("z").decode(b'{"type":"ticker","symbol":"X","sequence":1,'
                                 b'"data":{"bid":NaN}}')
    assert math.isnan(float("nan"))  # the guard above is the JSON parser's, not ours
