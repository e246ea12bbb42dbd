"""The one cattrs converter shared by ``to_dict``/``from_dict`` of every model."""

from __future__ import annotations

from typing import Any

import cattrs

from stockfish_core.models import PAYLOAD_TYPES, DataType, MarketUpdate

__all__ = ["converter"]

converter = cattrs.Converter()


def _unstructure_update(update: MarketUpdate) -> dict[str, Any]:
    payload = update.payload
    return {
        "data_type": update.data_type.value,
        "symbol": update.symbol,
        "source": update.source,
        "payload": dict(payload) if isinstance(payload, dict) else converter.unstructure(payload),
        "sequence": update.sequence,
        "ts_event": update.ts_event,
        "ts_recv": update.ts_recv,
    }


def _structure_update(data: dict[str, Any], _: type) -> MarketUpdate:
    data_type = DataType(data["data_type"])
    payload_type = PAYLOAD_TYPES[data_type]
    raw = data["payload"]
    payload = dict(raw) if payload_type is dict else converter.structure(raw, payload_type)
    return MarketUpdate(
        data_type=data_type, symbol=data["symbol"], source=data["source"], payload=payload,
        sequence=int(data.get("sequence", 0)), ts_event=int(data["ts_event"]),
        ts_recv=int(data["ts_recv"]),
    )


converter.register_unstructure_hook(MarketUpdate, _unstructure_update)
converter.register_structure_hook(MarketUpdate, _structure_update)
