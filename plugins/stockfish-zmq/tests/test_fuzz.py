"""Property-based fuzzing of the frame path: 10,000 generated frames (5,000 structured,
2,500 random bytes, 2,500 random text) plus 500 batches through the connector, derandomized.

No exception escapes the decoder other than :class:`FrameError`, every rejection has a kind,
and for every one of the 10,000 frames the connector's normalizer counts the rejection
exactly once under that kind.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stockfish_core.models import DataType, OrderBookSnapshot, PriceTick
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


def _check(decoder: FrameDecoder, raw: bytes, connector: ZMQConnector) -> None:
    """Decode ``raw`` directly and through the connector's normalizer: no exception but a
    named :class:`FrameError` escapes the decoder, accepted ticks are sane, and the
    connector counts each rejection exactly once under the decoder's kind."""
    stats = connector.stats
    errors_before = stats.data_errors
    by_kind_before = dict(stats.data_errors_by_kind)
    rejected_as: str | None = None
    try:
        update = decoder.decode(raw)
    except FrameError as exc:
        assert exc.kind in KINDS
        rejected_as = exc.kind
        update = None
    normalized = connector.on_price_tick(raw)
    if rejected_as is None and update is not None \
            and update.data_type is DataType.PRICE_TICK:
        assert normalized is not None and normalized.payload == update.payload
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
