"""What the scale-out tests share: configurations, and the comparison of a venue's record
with what the strategies know (0 duplicate orders, 0 lost or invented fills, every order
settled as the venue says)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockfish_nats.testing.venue import VenueRecord

__all__ = ["compare_with_venue", "gateway_config", "strategy_config"]


def gateway_config(write_yaml: Callable[[str, dict[str, Any]], str], tmp_path: Path,
                   instance: str, address: str) -> str:
    """A gateway's configuration: one ``sim`` connector to the venue at ``address``."""
    return write_yaml(f"gateway-{instance}.yaml", {
        "connectors": {"simv": {"type": "sim", "address": address, "heartbeat_interval": 1.0,
                                "reconnect_initial_delay": 0.1, "reconnect_max_delay": 0.5}},
        "manager": {"journal": str(tmp_path / f"gateway-{instance}.sqlite3"),
                    "stop_timeout": 3.0}})


def strategy_config(write_yaml: Callable[[str, dict[str, Any]], str], tmp_path: Path,
                    name: str, servers: list[str], gateway: str = "gw1") -> str:
    """A strategy's configuration: a ``nats`` connector to ``gateway``'s ``simv``."""
    return write_yaml(f"{name}.yaml", {
        "connectors": {"gw": {"type": "nats", "servers": servers, "gateway": gateway,
                              "connectors": ["simv"], "client_id": name,
                              "heartbeat_interval": 0.5, "request_timeout": 1.0,
                              "order_timeout": 8.0, "reconnect_initial_delay": 0.1,
                              "reconnect_max_delay": 0.5}},
        "manager": {"journal": str(tmp_path / f"{name}.sqlite3"), "stop_timeout": 3.0}})


def compare_with_venue(record: VenueRecord, results: list[dict[str, Any]]) -> dict[str, int]:
    """The venue's truth against what the strategies know; returns the counts."""
    received = record.orders_received()
    venue_fills = {f["exec_id"]: f for f in record.fills()}
    orders = [o for r in results for o in r["orders"]]
    assert orders, "the strategies sent nothing"
    duplicates = {cid: n for cid, n in received.items() if n != 1}
    assert duplicates == {}, f"orders received more than once: {duplicates}"
    truth = record.query([o["client_order_id"] for o in orders])
    strategy_fills: set[str] = set()
    for order in orders:
        cid = order["client_order_id"]
        assert not order["unknown_outcome"], order
        venue = truth[cid]
        if venue is None:  # never reached the venue: the strategy must know it
            assert order["status"] == "REJECTED", order
            assert not order["fills"], order
            continue
        assert order["status"] == venue["status"], (order, venue)
        assert order["filled"] == pytest.approx(venue["filled"]), (order, venue)
        assert sorted(order["fills"]) == sorted(f["exec_id"] for f in venue["fills"])
        strategy_fills.update(order["fills"])
    lost = set(venue_fills) - strategy_fills
    invented = strategy_fills - set(venue_fills)
    assert not lost and not invented, (lost, invented)
    return {"orders": len(orders), "at_venue": sum(1 for t in truth.values() if t),
            "fills": len(venue_fills)}
