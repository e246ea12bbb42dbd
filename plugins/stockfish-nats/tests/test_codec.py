"""The wire format: every model's ``to_dict()`` shape, versioned; bad input is a clear
DecodeError, never a crash."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
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
from stockfish_core.orders import Fill, Order, OrderEvent, OrderStatus
from stockfish_nats import codec
from stockfish_nats.subjects import Subjects, check_name, token, untoken

PAYLOADS = [
    (DataType.PRICE_TICK, PriceTick("SPY", 1.0, 1.1, 1.05, 100.0, 200.0, 5.0, 1e6, 7)),
    (DataType.ORDERBOOK_SNAPSHOT, OrderBookSnapshot(
        "SPY", (OrderBookLevel(1.0, 5.0, 2), OrderBookLevel(0.9, 1.0)),
        (OrderBookLevel(1.1, 3.0),), 9)),
    (DataType.OHLCV_BAR, OHLCVBar("SPY", 1.0, 2.0, 0.5, 1.5, 10.0, 60, 11)),
    (DataType.TRADE, Trade("SPY", 1.0, 2.0, "buy", "T1", 12)),
    (DataType.NEWS, NewsEvent("headline", "body", "src", ("SPY", "QQQ"), 0.5, 13)),
    (DataType.MACRO, MacroEvent("CPI", "US", 3.1, 3.0, 2.9, 3, 14)),
    (DataType.CUSTOM, {"anything": [1, 2]}),
]


@pytest.mark.parametrize(("data_type", "payload"), PAYLOADS)
def test_market_data_is_the_models_to_dict_versioned(data_type, payload):
    update = MarketUpdate(data_type, "SPY", "simv", payload, 42, 100, 200)
    wire = orjson.loads(codec.encode_update(update))
    expected = orjson.loads(orjson.dumps(update.to_dict()))
    assert wire.pop("v") == codec.VERSION
    assert wire.pop("ts_pub") > 0
    assert wire == expected
    back = codec.decode_update(codec.encode_update(update), "remote")
    assert back.payload == payload and back.source == "remote"
    assert (back.data_type, back.symbol, back.sequence, back.ts_event) == \
        (data_type, "SPY", 42, 100)


@given(bid=st.floats(0.01, 1e6), ask=st.floats(0.01, 1e6), seq=st.integers(0, 2**53),
       symbol=st.from_regex(r"[A-Z0-9][A-Z0-9/._-]{0,10}", fullmatch=True))
def test_price_ticks_survive_the_wire(bid, ask, seq, symbol):
    update = MarketUpdate(DataType.PRICE_TICK, symbol, "x", PriceTick(symbol, bid, ask), seq)
    back = codec.decode_update(codec.encode_update(update), "y")
    assert back.payload == update.payload and back.sequence == seq


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'{"v": 2}', orjson.dumps({"v": 1}),
    orjson.dumps({"v": 1, "data_type": "nope", "symbol": "X", "payload": {},
                  "sequence": 1, "ts_event": 1}),
    orjson.dumps({"v": 1, "data_type": "price_tick", "symbol": "X",
                  "payload": {"symbol": "X", "bid": 1, "bogus": 2}, "sequence": 1,
                  "ts_event": 1}),
])
def test_bad_market_data_is_a_decode_error(data):
    with pytest.raises(codec.DecodeError):
        codec.decode_update(data, "remote")


def test_orders_and_events_round_trip():
    order = Order("SPY", "BUY", 10, "LIMIT", price=1.5, account="ACC", tags={"k": "v"})
    order.apply_status(OrderStatus.SUBMITTED)
    fill = Fill("E1", 4.0, 1.5, 5, 0.1, "V1")
    order.apply_fill(fill)
    order.venue_refs["x"] = "y"
    state = codec.order_snapshot(order)
    back = codec.order_from_snapshot(orjson.loads(orjson.dumps(state)))
    assert codec.order_snapshot(back) == state
    event = codec.event_message(OrderEvent("fill", "simv", order.client_order_id,
                                           order.status, fill=fill), order, epoch=3,
                                instance="a")
    assert event["fill"] == codec.fill_to_dict(fill) and event["epoch"] == 3
    command = codec.order_command(order, "s1", 99)
    fresh = codec.order_from_command(command, {"sf_owner": "s1"})
    assert (fresh.client_order_id, fresh.price, fresh.tags) == \
        (order.client_order_id, 1.5, {"k": "v", "sf_owner": "s1"})


@pytest.mark.parametrize("command", [
    {}, {"client_order_id": "A1", "symbol": "S\x01", "side": "BUY", "quantity": 1},
    {"client_order_id": "A1", "symbol": "SPY", "side": "BUY", "quantity": float("nan")},
    {"client_order_id": "A1", "symbol": "SPY", "side": "BUY", "quantity": 1,
     "order_type": "LIMIT"},
])
def test_invalid_order_commands_are_refused(command):
    with pytest.raises(codec.DecodeError):
        codec.order_from_command(command, {})


@given(st.text(min_size=0, max_size=30).filter(lambda s: "\x00" not in s))
def test_subject_tokens_round_trip(value):
    tok = token(value)
    assert "." not in tok and "*" not in tok and ">" not in tok and " " not in tok
    assert untoken(tok) == value


def test_subjects_and_names():
    s = Subjects("gw1")
    assert s.market("simv", "price_tick", "BRK.B") == "sf.md.gw1.simv.price_tick.BRK%2EB"
    assert s.event("simv", "s1", "C.1") == "sf.ev.gw1.simv.s1.C%2E1"
    assert Subjects.parse_event(s.event("simv", "s1", "C.1")) == ("simv", "s1", "C.1")
    assert s.events_of("s1") == "sf.ev.gw1.*.s1.>"
    assert s.lease_key("simv") == "gw1.simv"
    for bad in ("", "a.b", "a b", "x" * 65, "a>"):
        with pytest.raises(ValueError):
            check_name("gateway", bad)
