"""Settings of the ``zmq`` connector (attrs only: cheap to import at discovery)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, non_negative, positive

__all__ = ["FEED_TYPES", "SEQUENCE_MODES", "ZMQSettings"]

FEED_TYPES = ("ticker", "depth", "trade", "custom")
SEQUENCE_MODES = ("reorder", "detect", "off")


def _endpoints(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    if not value:
        raise ValueError(f"{attribute.name}: at least one endpoint is needed")
    for endpoint in value:
        scheme, sep, rest = endpoint.partition("://")
        if not sep or scheme not in ("tcp", "ipc", "inproc") or not rest:
            raise ValueError(f"{attribute.name}: {endpoint!r} is not a ZeroMQ endpoint "
                             "(expected e.g. 'tcp://127.0.0.1:5555')")


def _feed_types(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    unknown = [t for t in value if t not in FEED_TYPES]
    if unknown or not value:
        raise ValueError(f"{attribute.name}: expected some of {', '.join(FEED_TYPES)}, "
                         f"got {', '.join(value) or 'nothing'}")


def _sequence_mode(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if value not in SEQUENCE_MODES:
        raise ValueError(f"{attribute.name}: expected one of {', '.join(SEQUENCE_MODES)}, "
                         f"got {value!r}")


@attrs.frozen(kw_only=True)
class ZMQSettings(ConnectorSettings):
    """Settings of the ``zmq`` market-data connector.

    - ``endpoints``: publishers to connect one SUB socket each to; several endpoints carrying
      the same stream are merged into one in-order stream (first copy wins).
    - ``symbols``: the symbols the feed carries; when given, subscribing to any other is a
      clear error (empty: any symbol may be subscribed; unknown ones just stay silent).
    - ``topics``: ZeroMQ subscription prefixes (``""``: everything the publisher sends).
    - ``feed_types``: message types delivered (ticker, depth, trade, custom); others are
      counted as filtered.
    - ``sequence_mode``: ``reorder`` (deliver in sequence order per symbol, waiting up to
      ``gap_timeout`` seconds or ``reorder_window`` buffered messages for a missing one),
      ``detect`` (deliver at once, drop duplicates and late messages, report gaps) or ``off``
      (deliver everything as received; no ``sequence`` field needed).
    - ``reset_threshold``: after a publisher reconnects, a sequence this far below the
      expected one (or back at or below where the stream began) is a publisher restart; a
      message behind without a reconnect is a duplicate, never a restart.
    - ``high_water_mark``: per-endpoint receive queue (ZMQ_RCVHWM), in messages.
    - ``reconnect_interval``: ZeroMQ's own reconnect interval (s) to a vanished publisher.
    - ``connect_timeout``: how long ``connect`` waits for the first endpoint (s).
    - ``max_message_size``: larger frames are rejected (bytes).
    - ``idle_symbol_ttl``: seconds after which a silent symbol's sequencing state (with
      nothing held) is forgotten, so memory follows the symbols actually trading.
    - ``heartbeat_interval``: a feed silent for two intervals is reported RECONNECTING
      (sockets are kept; CONNECTED again on the next frame); a publisher may send
      ``{"type": "heartbeat"}`` to stay live when quiet.
    """

    endpoints: tuple[str, ...] = attrs.field(default=("tcp://127.0.0.1:5555",),
                                             validator=_endpoints)
    symbols: tuple[str, ...] = ()
    topics: tuple[str, ...] = ("",)
    feed_types: tuple[str, ...] = attrs.field(default=FEED_TYPES, validator=_feed_types)
    sequence_mode: str = attrs.field(default="reorder", validator=_sequence_mode)
    reorder_window: int = attrs.field(default=1000, validator=positive)
    gap_timeout: float = attrs.field(default=0.5, validator=positive)
    reset_threshold: int = attrs.field(default=1000, validator=positive)
    high_water_mark: int = attrs.field(default=100_000, validator=non_negative)
    reconnect_interval: float = attrs.field(default=0.1, validator=positive)
    connect_timeout: float = attrs.field(default=5.0, validator=positive)
    max_message_size: int = attrs.field(default=1_048_576, validator=positive)
    idle_symbol_ttl: float = attrs.field(default=300.0, validator=positive)
    heartbeat_interval: float = attrs.field(default=5.0, validator=positive)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "ZMQ_ENDPOINTS": "endpoints",
        "ZMQ_FEED_TYPE": "feed_types",
    }
