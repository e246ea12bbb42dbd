"""The wire frames as msgspec types: parsed and range-checked in C, for
:meth:`~stockfish_zmq.decode.FrameDecoder.decode`'s fast path.

Strict on purpose: any frame these types refuse (a field they do not name, a value out of
range, a bool or a string for a number, a book level that is not exactly [price, size])
goes to the field-by-field decoder, which gives the same result for everything these
accept and names every rejection. Unknown fields are refused here, not skipped, because
msgspec skips a value without checking it is valid UTF-8, where the reference decoder
refuses the frame. A custom message's ``data`` is kept raw and read by orjson, as the
reference reads it (orjson reads an integer past 64 bits as a float, msgspec exactly).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = ["CustomFrame", "DepthData", "DepthFrame", "HeartbeatFrame", "TickerData",
           "TickerFrame", "TradeData", "TradeFrame", "decode_frame"]

# orjson (the reference) reads an integer past 64 bits as a float, and msgspec bounds
# only within int64: integers past int64 are refused here (the reference decides them).
_I64_MAX = 2**63 - 1
Price = Annotated[float, Meta(gt=0)]  # JSON numbers are finite: past a double, an error
Size = Annotated[float, Meta(ge=0)]
Symbol = Annotated[str, Meta(min_length=1, max_length=64)]
Sequence = Annotated[int, Meta(ge=0, le=_I64_MAX)]
Stamp = Annotated[int, Meta(le=_I64_MAX)]
TradeId = Annotated[int, Meta(ge=-_I64_MAX - 1, le=_I64_MAX)]


class TickerData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A ticker's ``data``: each field absent or in range (ints arrive as floats)."""

    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    bid_size: Size | None = None
    ask_size: Size | None = None
    last_size: Size | None = None
    volume: Size | None = None


class TradeData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A trade's ``data``; ``side`` is checked against the known sides by the decoder."""

    price: Price
    size: Size
    side: str | None = None
    trade_id: str | TradeId | float | None = None


class DepthData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A book's ``data``: levels as [price, size]."""

    bids: list[tuple[Price, Size]] = []
    asks: list[tuple[Price, Size]] = []


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False, tag_field="type",
                kw_only=True):
    """What every frame carries. ``source`` and ``source_sequence`` are what a
    :class:`~stockfish_zmq.sink.ZMQRepublisher` adds (not read)."""

    symbol: Symbol
    sequence: Sequence | None = None
    timestamp: Stamp | float | str | None = None
    source: Any = None
    source_sequence: Any = None


class TickerFrame(_Envelope, tag="ticker", gc=False):
    data: TickerData


class TradeFrame(_Envelope, tag="trade", gc=False):
    data: TradeData


class DepthFrame(_Envelope, tag="depth", gc=False):
    data: DepthData


class CustomFrame(_Envelope, tag="custom", gc=False):
    data: msgspec.Raw


class HeartbeatFrame(msgspec.Struct, tag="heartbeat", tag_field="type",
                     forbid_unknown_fields=True, gc=False):
    """A bare heartbeat (with anything more, the reference decoder decides)."""


#: ``decode_frame(frame)`` -> one of the frame types; raises ``msgspec.MsgspecError``.
decode_frame = msgspec.json.Decoder(
    TickerFrame | TradeFrame | DepthFrame | CustomFrame | HeartbeatFrame).decode
