"""The wire format: the models' ``to_dict()`` shapes, versioned, encoded with orjson.

Market data is the hot path: :func:`encode_update` builds the ``MarketUpdate.to_dict()``
shape by hand from precomputed attribute getters (no cattrs, no logging) and adds ``"v"``
(:data:`VERSION`) and ``"ts_pub"`` (the gateway's publish time, ns). :func:`decode_update`
builds the models back, or raises :class:`DecodeError` (a counted rejection for the
caller). Orders, order events and replies are rare and carry ``"v"`` too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import attrs
import orjson
from stockfish_core.models import (
    PAYLOAD_TYPES,
    DataType,
    MacroEvent,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    OrderBookLevel,
    OrderBookSnapshot,
    PriceTick,
    Trade,
    now_ns,
)
from stockfish_core.orders import Fill, Order, OrderEvent, OrderStatus

__all__ = [
    "VERSION",
    "DecodeError",
    "decode",
    "decode_update",
    "encode",
    "encode_update",
    "event_message",
    "fill_from_dict",
    "fill_to_dict",
    "order_command",
    "order_from_command",
    "order_from_snapshot",
    "order_snapshot",
]

#: The version of every message this package writes; a reader refuses another.
VERSION = 1

_dumps = orjson.dumps
_loads = orjson.loads


class DecodeError(ValueError):
    """A message that is not a valid message of this version (the text says why)."""


def _flat(cls: type) -> Callable[[Any], dict[str, Any]]:
    names = tuple(f.name for f in attrs.fields(cls))
    getter = operator.attrgetter(*names)

    def encode_one(obj: Any) -> dict[str, Any]:
        return dict(zip(names, getter(obj), strict=True))

    return encode_one


_level = _flat(OrderBookLevel)


def _book(book: OrderBookSnapshot) -> dict[str, Any]:
    return {"symbol": book.symbol, "bids": [_level(x) for x in book.bids],
            "asks": [_level(x) for x in book.asks], "ts_event": book.ts_event}


_PAYLOAD_ENCODERS: dict[type, Callable[[Any], Any]] = {
    PriceTick: _flat(PriceTick), OrderBookSnapshot: _book, OHLCVBar: _flat(OHLCVBar),
    Trade: _flat(Trade), NewsEvent: _flat(NewsEvent), MacroEvent: _flat(MacroEvent),
    dict: dict,
}


def encode_update(update: MarketUpdate) -> bytes:
    """``update`` as one message: ``{"v", **update.to_dict(), "ts_pub"}``."""
    payload = update.payload
    return _dumps({
        "v": VERSION, "data_type": update.data_type.value, "symbol": update.symbol,
        "source": update.source, "payload": _PAYLOAD_ENCODERS[type(payload)](payload),
        "sequence": update.sequence, "ts_event": update.ts_event, "ts_recv": update.ts_recv,
        "ts_pub": now_ns(),
    })


def _levels(raw: Any) -> tuple[OrderBookLevel, ...]:
    return tuple(OrderBookLevel(**level) for level in raw)


def _decode_book(p: dict[str, Any]) -> OrderBookSnapshot:
    return OrderBookSnapshot(p["symbol"], _levels(p["bids"]), _levels(p["asks"]),
                             p["ts_event"])


_PAYLOAD_DECODERS: dict[DataType, Callable[[dict[str, Any]], Any]] = {
    DataType.PRICE_TICK: lambda p: PriceTick(**p),
    DataType.ORDERBOOK_SNAPSHOT: _decode_book,
    DataType.OHLCV_BAR: lambda p: OHLCVBar(**p),
    DataType.TRADE: lambda p: Trade(**p),
    DataType.NEWS: lambda p: NewsEvent(**p),
    DataType.MACRO: lambda p: MacroEvent(**p),
    DataType.CUSTOM: dict,
}
_DATA_TYPES = {t.value: t for t in DataType}
assert set(_PAYLOAD_DECODERS) == set(PAYLOAD_TYPES)


def decode_update(data: bytes, source: str) -> MarketUpdate:
    """The update in ``data``, republished under ``source`` and stamped received now."""
    try:
        d = _loads(data)
        if d["v"] != VERSION:
            raise DecodeError(f"message version {d['v']!r}, this reader knows {VERSION}")
        data_type = _DATA_TYPES[d["data_type"]]
        payload = _PAYLOAD_DECODERS[data_type](d["payload"])
        return MarketUpdate(data_type, d["symbol"], source, payload, d["sequence"],
                            d["ts_event"], now_ns())
    except DecodeError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"malformed market data: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------- general
def encode(message: dict[str, Any]) -> bytes:
    """A message of this version (``"v"`` added)."""
    return _dumps({"v": VERSION, **message})


def decode(data: bytes) -> dict[str, Any]:
    """A message of this version as a dict, or :class:`DecodeError`."""
    try:
        message = _loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise DecodeError(f"expected an object, got {type(message).__name__}")
    if message.get("v") != VERSION:
        raise DecodeError(f"message version {message.get('v')!r}, this reader knows "
                          f"{VERSION}")
    return message


# ---------------------------------------------------------------------------- orders
def fill_to_dict(fill: Fill) -> dict[str, Any]:
    return {"exec_id": fill.exec_id, "quantity": fill.quantity, "price": fill.price,
            "ts_event": fill.ts_event, "commission": fill.commission,
            "venue_order_id": fill.venue_order_id}


def fill_from_dict(d: dict[str, Any]) -> Fill:
    return Fill(str(d["exec_id"]), float(d["quantity"]), float(d["price"]),
                int(d["ts_event"]), float(d.get("commission") or 0.0),
                d.get("venue_order_id"))


def order_command(order: Order, owner: str, expires_ns: int) -> dict[str, Any]:
    """What a strategy sends to submit ``order``: its intent, its owner and a deadline
    after which the gateway refuses it (a request that wandered for too long)."""
    return {"client_order_id": order.client_order_id, "symbol": order.symbol,
            "side": order.side.value, "quantity": order.quantity,
            "order_type": order.order_type.value, "price": order.price,
            "stop_price": order.stop_price, "time_in_force": order.time_in_force.value,
            "account": order.account, "tags": dict(order.tags), "owner": owner,
            "expires_ns": expires_ns}


def order_from_command(d: dict[str, Any], tags: dict[str, str]) -> Order:
    """A fresh order from a submit command (the model validates every field: ids without
    control characters, positive finite quantity and prices, the type's price rules)."""
    try:
        return Order(d["symbol"], d["side"], d["quantity"], d.get("order_type", "MARKET"),
                     price=d.get("price"), stop_price=d.get("stop_price"),
                     time_in_force=d.get("time_in_force", "DAY"), account=d.get("account"),
                     client_order_id=d["client_order_id"],
                     tags={**dict(d.get("tags") or {}), **tags})
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"invalid order: {type(exc).__name__}: {exc}") from None


def order_snapshot(order: Order) -> dict[str, Any]:
    """Everything about ``order`` another process needs to rebuild it."""
    state = order.snapshot()  # under the order's own lock: one consistent state
    state.update(account=order.account, tags=dict(order.tags),
                 venue_refs=dict(order.venue_refs))
    return state


def order_from_snapshot(d: dict[str, Any]) -> Order:
    """The order an :func:`order_snapshot` describes (a new object, owned by nobody)."""
    try:
        return Order(
            d["symbol"], d["side"], d["quantity"], d["order_type"], price=d.get("price"),
            stop_price=d.get("stop_price"), time_in_force=d["time_in_force"],
            account=d.get("account"), client_order_id=d["client_order_id"],
            order_id=d.get("order_id"), status=OrderStatus(d["status"]),
            filled_quantity=float(d.get("filled_quantity") or 0.0),
            avg_fill_price=d.get("avg_fill_price"),
            fills=[fill_from_dict(f) for f in d.get("fills") or []],
            reject_reason=d.get("reject_reason"),
            unknown_outcome=bool(d.get("unknown_outcome")), created_ns=int(d["created_ns"]),
            updated_ns=int(d["updated_ns"]), tags=dict(d.get("tags") or {}),
            external=bool(d.get("external")), venue_refs=dict(d.get("venue_refs") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"invalid order snapshot: {type(exc).__name__}: {exc}") from None


def event_message(event: OrderEvent, order: Order, *, epoch: int,
                  instance: str) -> dict[str, Any]:
    """An order event as published on the events stream: the event, the order's whole
    state after it (what a standby rebuilds from), and the lease epoch of the publisher."""
    return {"kind": event.kind, "connector": event.connector,
            "client_order_id": event.client_order_id, "status": event.status.value,
            "reason": event.reason,
            "fill": fill_to_dict(event.fill) if event.fill is not None else None,
            "ts": event.ts, "order": order_snapshot(order), "epoch": epoch,
            "instance": instance}
