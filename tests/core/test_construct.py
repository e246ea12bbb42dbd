"""positional_constructor builds the same objects as the attrs constructor, and refuses the
classes where skipping attrs' __init__ would skip work."""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stockfish_core.construct import positional_constructor
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

SAMPLES: list[tuple[type, tuple[Any, ...]]] = [
    (PriceTick, ("BTCUSD", 100.0, 100.5, 100.2, 3.0, 4, None, 1200.0, 1_768_818_645_123)),
    (Trade, ("ETHUSD", 2500.5, 0.25, "buy", "t-1", 7)),
    (OrderBookLevel, (99.5, 12.0, 3)),
    (OHLCVBar, ("BTCUSD", 1.0, 2.0, 0.5, 1.5, 10.0, 60, 9)),
    (MacroEvent, ("CPI", "US", 3.1, 3.0, 2.9, 3, 11)),
    (MarketUpdate, (DataType.TRADE, "ETHUSD", "zmq", Trade("ETHUSD", 1.0, 2.0), 5, 1, 2)),
]


@pytest.mark.parametrize(("cls", "values"), SAMPLES, ids=[c.__name__ for c, _ in SAMPLES])
def test_the_object_is_the_one_the_class_builds(cls: type, values: tuple[Any, ...]) -> None:
    built = positional_constructor(cls)(*values)
    reference = cls(*values)
    assert type(built) is cls
    assert attrs.astuple(built, recurse=False) == values  # each field in its own slot
    assert built == reference and hash(built) == hash(reference)
    assert repr(built) == repr(reference)
    assert pickle.loads(pickle.dumps(built)) == reference
    assert built.to_dict() == reference.to_dict()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.symbol = "X"  # type: ignore[misc]  # still frozen


@given(bid=st.floats(allow_nan=False) | st.none(), size=st.integers() | st.floats() | st.none(),
       ts=st.integers(min_value=0, max_value=2**63))
def test_any_values_land_where_the_class_puts_them(bid: float | None, size: Any,
                                                   ts: int) -> None:
    new_tick = positional_constructor(PriceTick)
    values = ("S", bid, None, bid, size, size, None, size, ts)
    assert attrs.astuple(new_tick(*values)) == attrs.astuple(PriceTick(*values))


def test_a_market_update_carries_the_payload_built_the_same_way() -> None:
    new_tick = positional_constructor(PriceTick)
    new_update = positional_constructor(MarketUpdate)
    tick = new_tick("BTCUSD", 1.0, 2.0, None, None, None, None, None, 5)
    update = new_update(DataType.PRICE_TICK, "BTCUSD", "zmq", tick, 1, 5, 6)
    assert update == MarketUpdate(DataType.PRICE_TICK, "BTCUSD", "zmq",
                                  PriceTick("BTCUSD", 1.0, 2.0, ts_event=5), 1, 5, 6)
    assert MarketUpdate.from_dict(update.to_dict()) == update


def test_every_field_must_be_given() -> None:
    new_tick = positional_constructor(PriceTick)
    with pytest.raises(TypeError):
        new_tick("BTCUSD", 1.0)


@attrs.frozen(slots=True)
class _Validated:
    price: float = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen(slots=True)
class _PostInit:
    price: float

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "price", abs(self.price))


@attrs.frozen(slots=False)
class _NoSlots:
    price: float


@attrs.frozen(slots=True)
class _NotInInit:
    price: float
    cached: int = attrs.field(init=False, default=0)


class _Plain:
    __slots__ = ("price",)


@pytest.mark.parametrize(("cls", "why"), [
    (OrderBookSnapshot, "converter"),  # sorts its levels
    (NewsEvent, "converter"),
    (_Validated, "validator"),
    (_PostInit, "__attrs_post_init__"),
    (_NoSlots, "slots"),
    (_NotInInit, "not a plain init field"),
    (_Plain, "not an attrs class"),
])
def test_a_class_whose_init_does_more_is_refused(cls: type, why: str) -> None:
    with pytest.raises(TypeError, match=why):
        positional_constructor(cls)
