"""The usual ticker frame as msgspec types: parsed and range-checked in C, for
:meth:`~stockfish_zmq.decode.FrameDecoder.decode`'s fast path.

Strict on purpose: any frame these types refuse (another message type, a field they do not
name, a value out of range, a bool or a string for a number) goes to the field-by-field
decoder, which gives the same result for everything these accept and names every
rejection. Unknown fields are refused here, not skipped, because msgspec skips a value
without checking it is valid UTF-8, where the reference decoder refuses the frame.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = ["TickerData", "TickerFrame", "decode_ticker"]

# orjson (the reference) reads an integer past 64 bits as a float, and msgspec bounds
# only within int64: integers past int64 are refused here (the reference decides them).
_I64_MAX = 2**63 - 1
Price = Annotated[float, Meta(gt=0)]  # JSON numbers are finite: past a double, an error
Size = Annotated[float, Meta(ge=0)]
Symbol = Annotated[str, Meta(min_length=1, max_length=64)]
Sequence = Annotated[int, Meta(ge=0, le=_I64_MAX)]
Stamp = Annotated[int, Meta(le=_I64_MAX)]


class TickerData(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A ticker's ``data``: each field absent or in range (ints arrive as floats)."""

    bid: Price | None = None
    ask: Price | None = None
    last: Price | None = None
    bid_size: Size | None = None
    ask_size: Size | None = None
    last_size: Size | None = None
    volume: Size | None = None


class TickerFrame(msgspec.Struct, tag="ticker", tag_field="type", forbid_unknown_fields=True,
                  gc=False):
    """A whole ticker frame. ``source`` and ``source_sequence`` are what a
    :class:`~stockfish_zmq.sink.ZMQRepublisher` adds (not read)."""

    symbol: Symbol
    data: TickerData
    sequence: Sequence | None = None
    timestamp: Stamp | float | str | None = None
    source: Any = None
    source_sequence: Any = None


#: ``decode_ticker(frame) -> TickerFrame``; raises ``msgspec.MsgspecError`` otherwise.
decode_ticker = msgspec.json.Decoder(TickerFrame).decode
