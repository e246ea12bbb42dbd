"""Normalized market data: immutable attrs value objects shared by every connector.

Prices and sizes are floats; times are integer nanoseconds since the epoch
(``ts_event`` is the venue's time, ``ts_recv`` ours). ``None`` means "not provided".
"""

from __future__ import annotations

import operator
import time
from datetime import datetime, timezone
from typing import Any

import attrs

from stockfish_core import serialization
from stockfish_core.enums import DataType

__all__ = [
    "DataType",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "OHLCVBar",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "PriceTick",
    "Trade",
    "now_ns",
    "ns_to_datetime",
]

now_ns = time.time_ns


def ns_to_datetime(ns: int) -> datetime:
    """Convert integer epoch nanoseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)



class _Serializable:
    """``to_dict``/``from_dict`` through the shared cattrs converter (built on first use)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return serialization.converter().unstructure(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return serialization.converter().structure(data, cls)


class _Timed:
    __slots__ = ()
    ts_event: int

    @property
    def datetime(self) -> datetime:
        """``ts_event`` as an aware UTC datetime."""
        return ns_to_datetime(self.ts_event)


@attrs.frozen(slots=True)
class PriceTick(_Serializable, _Timed):
    """Level-1 quote: best bid/ask with sizes, and the last trade."""

    symbol: str
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    volume: float | None = None
    ts_event: int = attrs.field(factory=now_ns)

    @property
    def spread(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid

    @property
    def mid_price(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2.0


@attrs.frozen(slots=True)
class OrderBookLevel(_Serializable):
    """One price level of a book side."""

    price: float
    size: float
    orders: int | None = None


_price = operator.attrgetter("price")  # a C key: the converters run for every book update


def _sorted_desc(levels: Any) -> tuple[OrderBookLevel, ...]:
    return tuple(sorted(levels, key=_price, reverse=True))  # still stable


def _sorted_asc(levels: Any) -> tuple[OrderBookLevel, ...]:
    return tuple(sorted(levels, key=_price))


@attrs.frozen(slots=True)
class OrderBookSnapshot(_Serializable, _Timed):
    """Level-2 book: bids sorted high to low, asks low to high."""

    symbol: str
    bids: tuple[OrderBookLevel, ...] = attrs.field(default=(), converter=_sorted_desc)
    asks: tuple[OrderBookLevel, ...] = attrs.field(default=(), converter=_sorted_asc)
    ts_event: int = attrs.field(factory=now_ns)

    @property
    def depth(self) -> int:
        """Number of levels on the deeper side."""
        return max(len(self.bids), len(self.asks))

    @property
    def best_bid(self) -> OrderBookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> OrderBookLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def spread(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price

    @property
    def mid_price(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (self.asks[0].price + self.bids[0].price) / 2.0

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask."""
        return bool(self.bids and self.asks and self.bids[0].price >= self.asks[0].price)


@attrs.frozen(slots=True)
class OHLCVBar(_Serializable, _Timed):
    """Candlestick; ``ts_event`` is the bar's start, ``interval_s`` its length."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    interval_s: int = 60
    ts_event: int = attrs.field(factory=now_ns)


@attrs.frozen(slots=True)
class Trade(_Serializable, _Timed):
    """A print on the tape. ``side`` is the aggressor ("buy"/"sell") when known."""

    symbol: str
    price: float
    size: float
    side: str | None = None
    trade_id: str | None = None
    ts_event: int = attrs.field(factory=now_ns)


@attrs.frozen(slots=True)
class NewsEvent(_Serializable, _Timed):
    """A headline, with optional body and sentiment in [-1, 1]."""

    headline: str
    body: str = ""
    source: str = ""
    symbols: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    sentiment: float | None = None
    ts_event: int = attrs.field(factory=now_ns)


@attrs.frozen(slots=True)
class MacroEvent(_Serializable, _Timed):
    """An economic release (CPI, NFP, ...). ``importance`` 1 (low) .. 3 (high)."""

    indicator: str
    country: str = ""
    actual: float | None = None
    forecast: float | None = None
    previous: float | None = None
    importance: int = 1
    ts_event: int = attrs.field(factory=now_ns)

    @property
    def surprise(self) -> float | None:
        if self.actual is None or self.forecast is None:
            return None
        return self.actual - self.forecast


Payload = PriceTick | OrderBookSnapshot | OHLCVBar | Trade | NewsEvent | MacroEvent | dict

PAYLOAD_TYPES: dict[DataType, type] = {
    DataType.PRICE_TICK: PriceTick,
    DataType.ORDERBOOK_SNAPSHOT: OrderBookSnapshot,
    DataType.OHLCV_BAR: OHLCVBar,
    DataType.TRADE: Trade,
    DataType.NEWS: NewsEvent,
    DataType.MACRO: MacroEvent,
    DataType.CUSTOM: dict,
}


@attrs.frozen(slots=True)
class MarketUpdate(_Serializable, _Timed):
    """Envelope for every normalized event that flows through the router.

    ``symbol`` is ``""`` for events that belong to no instrument (macro, general news).
    ``sequence`` is the source's sequence number when it has one, else the connector's count.
    """

    data_type: DataType
    symbol: str
    source: str
    payload: Payload
    sequence: int = 0
    ts_event: int = attrs.field(factory=now_ns)
    ts_recv: int = attrs.field(factory=now_ns)

    @property
    def recv_datetime(self) -> datetime:
        return ns_to_datetime(self.ts_recv)

    @property
    def latency_ns(self) -> int:
        """Receive time minus event time."""
        return self.ts_recv - self.ts_event


def _configure_converter(converter: Any) -> None:
    """MarketUpdate's payload is typed by its data type: (un)structure it by that."""

    def unstructure(update: MarketUpdate) -> dict[str, Any]:
        payload = update.payload
        return {
            "data_type": update.data_type.value,
            "symbol": update.symbol,
            "source": update.source,
            "payload": dict(payload) if isinstance(payload, dict)
            else converter.unstructure(payload),
            "sequence": update.sequence,
            "ts_event": update.ts_event,
            "ts_recv": update.ts_recv,
        }

    def structure(data: dict[str, Any], _: type) -> MarketUpdate:
        data_type = DataType(data["data_type"])
        payload_type = PAYLOAD_TYPES[data_type]
        raw = data["payload"]
        payload = dict(raw) if payload_type is dict else converter.structure(raw, payload_type)
        return MarketUpdate(
            data_type=data_type, symbol=data["symbol"], source=data["source"],
            payload=payload, sequence=int(data.get("sequence", 0)),
            ts_event=int(data["ts_event"]), ts_recv=int(data["ts_recv"]),
        )

    converter.register_unstructure_hook(MarketUpdate, unstructure)
    converter.register_structure_hook(MarketUpdate, structure)


serialization.configure(_configure_converter)
