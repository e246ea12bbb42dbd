"""JSON frame -> :class:`MarketUpdate`, with every rejection named by kind.

The wire format (one JSON object per frame, optionally after a topic frame)::

    {"type": "ticker"|"depth"|"trade"|"custom"|"heartbeat", "symbol": "BTCUSD",
     "sequence": 12345, "data": {...}, "timestamp": "2026-01-19T10:30:45.123Z" | number}

This is the hot path: orjson, no logging, no cattrs; rejections raise :class:`FrameError`
(rare) and the connector counts them by ``kind``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import orjson
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
    now_ns,
)

__all__ = ["HEARTBEAT", "FrameDecoder", "FrameError", "parse_timestamp"]

HEARTBEAT = "heartbeat"
_INF = math.inf
_NS_END = 100_000_000_000_000_000_000  # 1e20: past it a number is no timestamp
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SIDES = {"buy": "buy", "sell": "sell", "b": "buy", "s": "sell", "bid": "buy", "ask": "sell"}


class FrameError(ValueError):
    """A frame that cannot be delivered; ``kind`` is the counter it is recorded under."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def parse_timestamp(value: Any) -> int:
    """ISO-8601 text or epoch seconds / ms / µs / ns as a number -> int ns since the epoch."""
    if isinstance(value, bool):
        raise FrameError("bad_timestamp", f"timestamp {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise FrameError("bad_timestamp", f"timestamp {value!r}")
        magnitude = abs(value)
        if magnitude < 1e11:
            return int(value * 1_000_000_000)
        if magnitude < 1e14:
            return int(value * 1_000_000)
        if magnitude < 1e17:
            return int(value * 1_000)
        if magnitude < 1e20:
            return int(value)
        raise FrameError("bad_timestamp", f"timestamp {value!r} is out of range")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise FrameError("bad_timestamp", f"timestamp {value[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        delta = moment - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 \
            + delta.microseconds * 1_000
    raise FrameError("bad_timestamp", f"timestamp of type {type(value).__name__}")


def _number(data: dict[str, Any], key: str, required: bool, *, zero_ok: bool) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise FrameError("missing_field", f"data.{key} is missing")
        return None
    if type(value) is not float and type(value) is not int:
        raise FrameError("wrong_type", f"data.{key}: expected a number, got "
                                       f"{type(value).__name__}")
    if not (value >= 0 if zero_ok else value > 0) or value == math.inf:
        raise FrameError("bad_size" if zero_ok else "bad_price", f"data.{key}: {value!r}")
    return float(value)


def _price(data: dict[str, Any], key: str, required: bool = False) -> float | None:
    """A finite price > 0 (rejected as ``bad_price``)."""
    return _number(data, key, required, zero_ok=False)


def _size(data: dict[str, Any], key: str, required: bool = False) -> float | None:
    """A finite size >= 0 (rejected as ``bad_size``)."""
    return _number(data, key, required, zero_ok=True)


def _levels(data: dict[str, Any], key: str) -> list[OrderBookLevel]:
    raw = data.get(key, [])
    if type(raw) is not list:
        raise FrameError("wrong_type", f"data.{key}: expected a list of [price, size]")
    levels = []
    for entry in raw:
        if type(entry) is not list or len(entry) < 2:
            raise FrameError("wrong_type", f"data.{key}: level {entry!r} is not [price, size]")
        price, size = entry[0], entry[1]
        if type(price) not in (int, float) or type(size) not in (int, float):
            raise FrameError("wrong_type", f"data.{key}: level {entry!r} is not numeric")
        if not 0 < price < math.inf:
            raise FrameError("bad_price", f"data.{key}: price {price!r}")
        if not 0 <= size < math.inf:
            raise FrameError("bad_size", f"data.{key}: size {size!r}")
        levels.append(OrderBookLevel(float(price), float(size)))
    return levels


class FrameDecoder:
    """Decodes frames for one connector (``source``)."""

    def __init__(self, source: str, *, max_message_size: int = 1_048_576,
                 require_sequence: bool = True) -> None:
        self.source = source
        self.max_message_size = max_message_size
        self.require_sequence = require_sequence

    def decode(self, frame: bytes) -> MarketUpdate | None:
        """Return the update, ``None`` for a heartbeat, or raise :class:`FrameError`."""
        if len(frame) > self.max_message_size:
            raise FrameError("oversized", f"{len(frame)} bytes > {self.max_message_size}")
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise FrameError("not_utf8" if "UTF-8" in str(exc) else "invalid_json",
                             str(exc)[:80]) from None
        if type(msg) is not dict:
            raise FrameError("not_an_object", f"top level is {type(msg).__name__}")
        kind = msg.get("type")
        if kind == HEARTBEAT:
            return None
        symbol = msg.get("symbol")
        if type(symbol) is not str or not symbol or len(symbol) > 64:
            raise FrameError("bad_symbol" if symbol is not None else "missing_field",
                             f"symbol {symbol!r}"[:80])
        sequence = msg.get("sequence")
        if sequence is None:
            if self.require_sequence:
                raise FrameError("missing_field", "sequence is missing")
            sequence = 0
        elif type(sequence) is not int or sequence < 0:
            raise FrameError("bad_sequence", f"sequence {sequence!r}"[:80])
        data = msg.get("data")
        if type(data) is not dict:
            raise FrameError("missing_field" if data is None else "wrong_type",
                             "data must be an object")
        stamp = msg.get("timestamp")
        ts_recv = now_ns()
        # Epoch milliseconds or nanoseconds as an int, the usual cases: no call.
        if type(stamp) is int and 100_000_000_000 <= stamp < 100_000_000_000_000:
            ts_event = stamp * 1_000_000
        elif type(stamp) is int and 100_000_000_000_000_000 <= stamp < _NS_END:
            ts_event = stamp
        elif stamp is None:
            ts_event = ts_recv
        else:
            ts_event = parse_timestamp(stamp)
        if kind == "ticker":
            data_type, payload = DataType.PRICE_TICK, self._ticker(symbol, data, ts_event)
        elif kind == "depth":
            data_type, payload = DataType.ORDERBOOK_SNAPSHOT, self._depth(symbol, data,
                                                                           ts_event)
        elif kind == "trade":
            data_type, payload = DataType.TRADE, self._trade(symbol, data, ts_event)
        elif kind == "custom":
            data_type, payload = DataType.CUSTOM, data
        else:
            raise FrameError("unknown_type", f"type {kind!r}"[:80])
        return MarketUpdate(data_type, symbol, self.source, payload, sequence, ts_event,
                            ts_recv)

    @staticmethod
    def _ticker(symbol: str, data: dict[str, Any], ts: int) -> PriceTick:
        # Fast path (the common, valid ticker): one pass with no calls; anything odd falls
        # through to the field-by-field checks below, which name the problem.
        get = data.get
        bid, ask, last = get("bid"), get("ask"), get("last")
        bid_size, ask_size, volume = get("bid_size"), get("ask_size"), get("volume")
        last_size = get("last_size")
        ok = bid is not None or ask is not None or last is not None
        for v in (bid, ask, last):
            if v is not None and not ((type(v) is float or type(v) is int)
                                      and 0 < v < _INF):
                ok = False
        for v in (bid_size, ask_size, volume, last_size):
            if v is not None and not ((type(v) is float or type(v) is int)
                                      and 0 <= v < _INF):
                ok = False
        if ok and (bid is None or ask is None or bid <= ask):
            return PriceTick(symbol, bid, ask, last, bid_size, ask_size, last_size, volume,
                             ts)
        return FrameDecoder._ticker_checked(symbol, data, ts)

    @staticmethod
    def _ticker_checked(symbol: str, data: dict[str, Any], ts: int) -> PriceTick:
        bid = _price(data, "bid")
        ask = _price(data, "ask")
        last = _price(data, "last")
        if bid is None and ask is None and last is None:
            raise FrameError("missing_field", "ticker has no bid, ask or last")
        if bid is not None and ask is not None and bid > ask:
            raise FrameError("crossed_quote", f"bid {bid} > ask {ask}")
        return PriceTick(symbol, bid, ask, last, _size(data, "bid_size"),
                         _size(data, "ask_size"), _size(data, "last_size"),
                         _size(data, "volume"), ts)

    @staticmethod
    def _depth(symbol: str, data: dict[str, Any], ts: int) -> OrderBookSnapshot:
        book = OrderBookSnapshot(symbol, _levels(data, "bids"), _levels(data, "asks"), ts)
        if not book.bids and not book.asks:
            raise FrameError("missing_field", "depth has neither bids nor asks")
        if book.bids and book.asks and book.bids[0].price >= book.asks[0].price:
            raise FrameError("crossed_book", f"best bid {book.bids[0].price} >= best ask "
                                             f"{book.asks[0].price}")
        return book

    @staticmethod
    def _trade(symbol: str, data: dict[str, Any], ts: int) -> Trade:
        price = _price(data, "price", required=True)
        size = _size(data, "size", required=True)
        side = data.get("side")
        if side is not None:
            if type(side) is not str or side.lower() not in _SIDES:
                raise FrameError("bad_side", f"side {side!r}"[:80])
            side = _SIDES[side.lower()]
        trade_id = data.get("trade_id")
        return Trade(symbol, price, size, side,  # type: ignore[arg-type]
                     None if trade_id is None else str(trade_id), ts)
