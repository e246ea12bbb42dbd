"""End to end: one manager over every connector type against its simulated venue, configured
from a YAML file through entry-point discovery, exactly as a user would.

It subscribes across connectors, trades through each order-capable one, kills the primary
venue mid-order, and checks failover, reconnection, resubscription, reconciliation, that no
order reached a venue twice, and that the totals add up across connectors.
Set STOCKFISH_INTEGRATION_REQUIRE to a comma list of connector types (the tox env does) to
fail, rather than run with fewer, when one of them is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_core import plugins
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing import Recorder, wait_until

FAST = {"reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.5}


def _received_count(kind: str, venue: Any, client_order_id: str) -> int | None:
    """How many times the venue itself saw this order (None: it keeps no such record)."""
    if kind == "sim":
        return SimVenue.get(venue.name).orders_received[client_order_id]
    if kind == "ibkr":
        return sum(1 for o in venue.tws.orders_received if o["order_ref"] == client_order_id)
    record = getattr(venue, "orders_received_count", None)
    return record(client_order_id) if record is not None else None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    plugins.load_plugins(reload=True)
    offered: dict[str, Callable[..., Any]] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(
        register=offered.setdefault)
    required = {t for t in os.environ.get("STOCKFISH_INTEGRATION_REQUIRE", "").split(",") if t}
    assert set(offered) >= required, f"missing plugins: {required - set(offered)}"
    venues: dict[str, tuple[str, Any]] = {}
    connectors: dict[str, Any] = {}
    tag = os.getpid()
    for role, seed in (("primary", 1), ("backup", 2)):
        venue = offered["sim"](name=f"it-{role}-{tag}", seed=seed, tick_interval=0.01)
        connectors[role] = {**venue.start(), **FAST, "primary": role == "primary",
                            "heartbeat_interval": 0.5}
        venues[role] = ("sim", venue)
    for kind in sorted(set(offered) - {"sim"}):
        venue = offered[kind]()
        connectors[kind] = {**venue.start(), **FAST}
        venues[kind] = (kind, venue)
    path = tmp_path / "stockfish.yaml"
    path.write_text(yaml.safe_dump({
        "connectors": connectors,
        "manager": {"failover_strategy": "primary_backup", "health_check_interval": 1.0},
    }))
    manager = ExchangeManager.from_config(path)
    try:
        yield {"manager": manager, "venues": venues}
    finally:
        manager.stop_all()
        for _, venue in venues.values():
            venue.stop()


def test_everything_together(world: dict[str, Any]) -> None:
    manager: ExchangeManager = world["manager"]
    venues: dict[str, tuple[str, Any]] = world["venues"]
    recorder = Recorder(manager.get_connector("primary"), manager.router)
    assert manager.start_all(), manager.get_health_status()

    # Market data from every connector.
    for name, (_, venue) in venues.items():
        symbols = list(getattr(venue, "symbols", ()) or ["SPY", "QQQ"])
        manager.subscribe_price(symbols[:2], connectors=name)
    sources: set[str] = set()
    manager.router.subscribe(lambda u: sources.add(u.source))
    assert wait_until(lambda: sources >= set(venues), 15), f"silent: {set(venues) - sources}"

    # Trade through each order-capable connector.
    sent: dict[str, Order] = {}
    for name, (_, venue) in venues.items():
        connector = manager.get_connector(name)
        if connector.data_only:
            continue
        symbol = next(iter(getattr(venue, "symbols", ()) or ["SPY"]))
        order = Order(symbol, OrderSide.BUY, 1)
        manager.send_order(order, name)
        sent[name] = order
    assert wait_until(lambda: all(o.status is OrderStatus.FILLED for o in sent.values()), 15), \
        {n: o.status for n, o in sent.items()}

    # Kill the primary venue with an order in flight.
    primary_venue = SimVenue.get(venues["primary"][1].name)
    big = Order("SPY", OrderSide.BUY, 1000)
    manager.send_order(big)
    assert big.connector == "primary"
    primary_venue.refuse_connections(0.5)
    primary_venue.drop()
    during = Order("QQQ", OrderSide.BUY, 5)
    manager.send_order(during)
    assert during.connector == "backup"
    primary = manager.get_connector("primary")
    assert wait_until(lambda: primary.is_connected, 15), "primary did not reconnect"
    assert recorder.wait_updates(5, 10, symbol="SPY"), "primary was not resubscribed"
    assert wait_until(lambda: big.status is OrderStatus.FILLED and not big.unknown_outcome, 15)
    truth = [f["exec_id"] for f in primary_venue.fills if f["client_order_id"] == big.client_order_id]
    assert [f.exec_id for f in big.fills] == truth
    stats = manager.get_stats()
    assert stats["manager"]["failovers"] >= 1
    assert stats["manager"]["reconnects"] >= 1
    assert stats["manager"]["reconciliations"] >= 1

    # No order reached any venue twice; nothing is left of unknown outcome.
    for order in [*sent.values(), big, during]:
        kind, venue = venues[order.connector]
        count = _received_count(kind, venue, order.client_order_id)
        assert count in (1, None), f"{order!r} reached {order.connector} {count} times"
        assert not order.unknown_outcome

    # The totals add up across connectors.
    total = stats["total"]
    for key in ("updates_normalized", "orders_submitted", "fills_applied", "data_errors"):
        assert total[key] == sum(stats[n][key] for n in manager.list_connectors()), key
    assert total["connectors"] == len(venues)
    assert total["orders_submitted"] == len(sent) + 2
    by_type = total["updates_by_type"]
    assert by_type.get(DataType.PRICE_TICK.value, 0) > 0


def test_config_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("connectors:\n  ibkr:\n    port: abc\n")
    from stockfish_core.errors import ConfigError

    if "ibkr" not in plugins.list_connector_types():
        pytest.skip("stockfish-ibkr is not installed")
    with pytest.raises(ConfigError, match="connectors.ibkr.port: expected an int, got 'abc'"):
        ExchangeManager.from_config(path)

