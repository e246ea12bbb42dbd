"""Property-based fuzzing of the frame path: 15,000 generated frames (5,000 structured,
2,500 tickers and 2,500 other frames with edge values, 2,500 random bytes, 2,500 random
text) plus 500 batches through the connector, derandomized.

No exception escapes the decoder other than :class:`FrameError`, every rejection has a kind,
the fast path (msgspec) gives exactly what the reference decoder gives for every frame,
and for every frame the connector's normalizer counts the rejection exactly once under
that kind.
"""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stockfish_core.models import DataType, MarketUpdate, OrderBookSnapshot, PriceTick, Trade
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.decode import FrameDecoder, FrameError

KINDS = {"oversized", "invalid_json", "not_utf8", "not_an_object", "missing_field",
         "bad_symbol", "bad_sequence", "wrong_type", "unknown_type", "bad_timestamp",
         "bad_price", "bad_size", "crossed_quote", "crossed_book", "bad_side"}
FUZZ = settings(max_examples=2_500, derandomize=True, deadline=None,
                suppress_health_check=list(HealthCheck))

numbers = st.one_of(st.floats(allow_nan=False), st.integers(-2**63, 2**63 - 1),
                    st.floats(min_value=0.0001, max_value=1e6))
values = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8),
                   st.lists(numbers, max_size=3))
levels = st.lists(st.one_of(st.lists(numbers, min_size=0, max_size=3), values), max_size=4)
data = st.one_of(
    st.fixed_dictionaries({}, optional={"bid": values, "ask": values, "last": values,
                                        "bid_size": values, "volume": values}),
    st.fixed_dictionaries({}, optional={"bids": st.one_of(levels, values),
                                        "asks": st.one_of(levels, values)}),
    st.fixed_dictionaries({}, optional={"price": values, "size": values, "side": values}),
    values,
)
messages = st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.sampled_from(["ticker", "depth", "trade", "custom", "heartbeat"]),
                      values),
    "symbol": st.one_of(st.sampled_from(["BTCUSD", "", "X" * 80]), values),
    "sequence": st.one_of(st.integers(-5, 10**12), values),
    "timestamp": st.one_of(st.sampled_from(["2026-01-19T10:30:45.123Z", "bad", "1e99"]),
                           values),
    "data": data,
})


# Ticker frames near the edges of what the fast path accepts: mostly valid, one value in
# four at an edge (out of range, of another type, past 64 bits, a field the types do not
# name), so that both what the fast path takes and what it hands on are well covered.
def _mostly(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]
            ) -> st.SearchStrategy[Any]:
    return st.tuples(st.integers(0, 7), valid, edge).map(lambda t: t[2] if t[0] < 2 else t[1])


def _sometimes_with(base: st.SearchStrategy[Any], key: str) -> st.SearchStrategy[Any]:
    """``base``'s dicts, one in four with ``key`` (a field the fast path does not know)."""
    return st.tuples(base, st.integers(0, 7), values).map(
        lambda t: {**t[0], key: t[2]} if isinstance(t[0], dict) and t[1] == 5 else t[0])


edge_numbers = st.one_of(numbers, st.sampled_from(
    [0, 0.0, -0.0, -0.5, -1, 1e308, 2**63, 2**64 + 1, 10**30, True, False, "1.5", None]))
prices = _mostly(st.one_of(st.floats(0.01, 1e6), st.integers(1, 10**6)), edge_numbers)
ticker_data = _sometimes_with(st.fixed_dictionaries(
    {"bid": prices, "ask": prices, "last": prices},
    optional={"bid_size": prices, "ask_size": prices, "last_size": prices, "volume": prices}),
    "exchange_time")
levels_near_edges = st.lists(_mostly(st.tuples(prices, prices).map(list), st.one_of(
    st.lists(prices, max_size=3), values)), max_size=5)
trade_data = _sometimes_with(st.fixed_dictionaries(
    {"price": prices, "size": prices},
    optional={"side": _mostly(st.sampled_from(["buy", "SELL", "b", "ask"]),
                              st.one_of(st.sampled_from(["up", ""]), values)),
              "trade_id": st.one_of(st.text(max_size=4), st.integers(-2**65, 2**65),
                                    st.floats(allow_nan=False), values)}), "venue_id")
depth_data = _sometimes_with(st.fixed_dictionaries(
    {}, optional={"bids": _mostly(levels_near_edges, values),
                  "asks": _mostly(levels_near_edges, values)}), "checksum")
custom_data = st.dictionaries(st.text(max_size=4), st.one_of(
    values, st.integers(-2**70, 2**70), st.lists(values, max_size=3)), max_size=4)


def _frames_near_edges(kind: str, data: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Frames of ``kind`` near the edges of the fast path."""
    return _sometimes_with(st.fixed_dictionaries(
        {"type": st.just(kind),
         "symbol": _mostly(st.sampled_from(["BTCUSD", "é" * 64]),
                           st.one_of(st.sampled_from(["", "é" * 65]), values)),
         "sequence": _mostly(st.integers(0, 10**9), st.one_of(
             st.integers(-1, 2**64 + 1), st.sampled_from([1.0, True]))),
         "data": _mostly(data, values)},
        optional={
            "timestamp": _mostly(st.integers(1_700_000_000_000, 1_800_000_000_000),
                                 st.one_of(st.integers(-1, 2**70), st.sampled_from(
                                     [1.5e9, "2026-01-19T10:30Z", "bad", None, True]))),
            "source": values, "source_sequence": values,
        }), "venue")


ticker_messages = _frames_near_edges("ticker", ticker_data)
other_messages = st.one_of(
    _frames_near_edges("trade", trade_data), _frames_near_edges("depth", depth_data),
    _frames_near_edges("custom", custom_data),
    _sometimes_with(st.just({"type": "heartbeat"}), "sequence"))


def _comparable(update: MarketUpdate, raw: bytes) -> Any:
    """``update`` without its receive time, nor its event time when that defaults to the
    receive time (no timestamp in ``raw``): what two decodes of ``raw`` agree on."""
    msg = json.loads(raw)
    stamped = isinstance(msg, dict) and msg.get("timestamp") is not None
    fields = attrs.asdict(update, recurse=False)
    payload = fields.pop("payload")
    fields.pop("ts_recv")
    if not stamped:
        fields.pop("ts_event")
        if isinstance(payload, PriceTick | Trade | OrderBookSnapshot):
            payload = attrs.evolve(payload, ts_event=0)
    return fields, payload


def _outcome(decode: Any, raw: bytes) -> Any:
    """What ``decode(raw)`` gives, comparable between two decodes: the rejection's kind,
    ``None`` (a heartbeat), or the update (see :func:`_comparable`)."""
    try:
        update = decode(raw)
    except FrameError as exc:
        return ("rejected", exc.kind)
    return None if update is None else _comparable(update, raw)


def _check(decoder: FrameDecoder, raw: bytes, connector: ZMQConnector) -> None:
    """Decode ``raw`` directly and through the connector's normalizer: no exception but a
    named :class:`FrameError` escapes the decoder, accepted ticks are sane, and the
    connector counts each rejection exactly once under the decoder's kind."""
    stats = connector.stats
    errors_before = stats.data_errors
    by_kind_before = dict(stats.data_errors_by_kind)
    rejected_as: str | None = None
    outcome = _outcome(decoder.decode, raw)
    assert outcome == _outcome(decoder.decode_checked, raw), "the fast path differs"
    if isinstance(outcome, tuple) and outcome[0] == "rejected":
        assert type(outcome[1]) is str
    try:
        update = decoder.decode(raw)
    except FrameError as exc:
        assert exc.kind in KINDS
        rejected_as = exc.kind
        update = None
    normalized = connector.on_price_tick(raw)
    if rejected_as is None and update is not None \
            and update.data_type is DataType.PRICE_TICK:
        assert normalized is not None
        assert _comparable(normalized, raw)[1] == _comparable(update, raw)[1]  # payloads
        assert stats.data_errors == errors_before
    else:
        # A rejection under its kind, or a valid frame of another type (or a heartbeat)
        # handed to the tick normalizer: ``unexpected_type``.
        kind = rejected_as or "unexpected_type"
        assert normalized is None
        assert stats.data_errors == errors_before + 1
        assert stats.data_errors_by_kind[kind] == by_kind_before.get(kind, 0) + 1
    if update is None:
        return
    payload = update.payload
    if isinstance(payload, PriceTick):
        for v in (payload.bid, payload.ask, payload.last):
            assert v is None or (math.isfinite(v) and v > 0)
        if payload.bid is not None and payload.ask is not None:
            assert payload.bid <= payload.ask
    elif isinstance(payload, OrderBookSnapshot):
        assert not payload.is_crossed
    assert update.data_type in DataType


# Never connected: only the normalizer and its counters are used.
CONNECTOR = ZMQConnector(endpoints=("tcp://127.0.0.1:1",))
SMALL = ZMQConnector(endpoints=("tcp://127.0.0.1:1",), max_message_size=150)


@settings(FUZZ, max_examples=5_000)
@given(messages)
def test_structured_messages(msg: dict[str, Any]) -> None:
    _check(FrameDecoder("fuzz"), orjson.dumps(msg), CONNECTOR)


@FUZZ
@given(ticker_messages)
def test_tickers_at_the_edges_of_the_fast_path(msg: dict[str, Any]) -> None:
    # The standard library's encoder: orjson refuses integers past 64 bits.
    _check(FrameDecoder("fuzz"), json.dumps(msg, ensure_ascii=False).encode(), CONNECTOR)


@FUZZ
@given(other_messages)
def test_trades_books_custom_and_heartbeats_at_the_edges_of_the_fast_path(
        msg: dict[str, Any]) -> None:
    _check(FrameDecoder("fuzz"), json.dumps(msg, ensure_ascii=False).encode(), CONNECTOR)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(raw: bytes) -> None:
    _check(FrameDecoder("fuzz", max_message_size=150), raw, SMALL)


@FUZZ
@given(st.text(max_size=120))
def test_random_text(text: str) -> None:
    _check(FrameDecoder("fuzz"), text.encode("utf-8", "surrogatepass"), CONNECTOR)


@settings(FUZZ, max_examples=500)
@given(st.lists(messages, min_size=1, max_size=4))
def test_connector_counts_every_rejection_once(batch: list[dict[str, Any]]) -> None:
    connector = ZMQConnector(endpoints=("tcp://127.0.0.1:1",))
    rejected = 0
    for msg in batch:
        if connector.on_price_tick(msg) is None:
            rejected += 1
    stats = connector.get_stats()
    assert stats["data_errors"] == rejected
    assert sum(stats["data_errors_by_kind"].values()) == rejected
