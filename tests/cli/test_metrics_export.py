"""Metrics as Prometheus scrapes them from a manager running every simulated venue: every
statistic of `get_stats()` and of the health check has a metric, data-only connectors have
no order metrics, and the Grafana dashboard in docs/ asks only for metrics that exist."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stockfish_core import plugins
from stockfish_core.manager import ExchangeManager
from stockfish_core.metrics import METRICS, StatsCollector, start_metrics_server
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.testing import wait_until

from tests.support.processes import free_ports

pytest.importorskip("prometheus_client")
pytest.importorskip("stockfish_fix")
pytest.importorskip("stockfish_ibkr")
pytest.importorskip("stockfish_zmq")
from prometheus_client.parser import text_string_to_metric_families
from stockfish_core.journal import OrderJournal

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
#: get_stats() keys -> the metric that carries them (text-only keys say why not).
CONNECTOR_KEYS = {
    "name": "label connector", "type": "label type", "status": "stockfish_connector_status",
    "connected": "stockfish_connector_up", "data_only": "stockfish_connector_info",
    "read_only": "stockfish_connector_info", "connected_at": "stockfish_connector_uptime_seconds",
    "uptime_s": "stockfish_connector_uptime_seconds",
    "last_update_time": "stockfish_last_update_timestamp_seconds",
    "last_heartbeat_age_s": "stockfish_connector_heartbeat_age_seconds",
    "updates_received": "stockfish_messages_received", "updates_normalized": "stockfish_updates",
    "updates_by_type": "stockfish_updates", "data_errors": "stockfish_data_errors",
    "data_errors_by_kind": "stockfish_data_errors",
    "duplicates_dropped": "stockfish_duplicates_dropped",
    "sequence_gaps": "stockfish_sequence_gaps", "messages_lost": "stockfish_messages_lost",
    "connection_errors": "stockfish_connection_errors",
    "recent_errors": "stockfish_connector_recent_errors", "last_error": "text: the live view",
    "reconnection_attempts": "stockfish_reconnection_attempts",
    "reconnections": "stockfish_reconnects", "orders_submitted": "stockfish_orders",
    "orders_filled": "stockfish_orders", "orders_cancelled": "stockfish_orders",
    "orders_rejected": "stockfish_orders", "order_errors": "stockfish_orders",
    "fills_applied": "stockfish_fills", "duplicate_fills": "stockfish_duplicate_fills",
    "refused_transitions": "stockfish_refused_transitions",
    "open_orders": "stockfish_open_orders",
    "unknown_outcome_orders": "stockfish_unknown_outcome_orders",
    "subscriptions": "stockfish_subscriptions",
    "order_latency_ms_p50": "stockfish_order_latency_seconds",
    "order_latency_ms_p99": "stockfish_order_latency_seconds",
    "orders_external": "stockfish_orders", "orders_recovered": "stockfish_orders",
    "fills_external": "stockfish_external_fills",
    "recovering": "stockfish_connector_recovering",
}
HEALTH_KEYS = {
    "status": "stockfish_connector_status", "connected": "stockfish_connector_up",
    "healthy": "stockfish_connector_healthy", "stale": "stockfish_connector_stale",
    "score": "stockfish_connector_health_score",
    "heartbeat_age_s": "stockfish_connector_heartbeat_age_seconds",
    "recent_errors": "stockfish_connector_recent_errors",
    "order_latency_ms_p50": "stockfish_order_latency_seconds",
    "primary": "stockfish_connector_info", "data_only": "stockfish_connector_info",
    "read_only": "stockfish_connector_info", "stale_symbols": "stockfish_symbol_stale",
}
MANAGER_KEYS = {
    "failover_strategy": "stockfish_manager_info", "primary": "stockfish_manager_info",
    "order_route": "stockfish_manager_order_route", "failovers": "stockfish_manager_failovers",
    "reconnects": "stockfish_manager_reconnects",
    "reconciliations": "stockfish_manager_reconciliations",
    "orders_tracked": "stockfish_manager_orders_tracked",
    "orders_refused": "stockfish_manager_orders_refused",
    "health_checks": "stockfish_manager_health_checks",
    "silent_detected": "stockfish_manager_silent_detected",
    "last_failover": "stockfish_manager_failovers", "router": "stockfish_router_published",
    "arbitration": "stockfish_arbitration_switches", "journal": "stockfish_journal_writes",
    "orphaned_orders": "stockfish_orphaned_orders", "on_stop": "text: the configuration",
}
ROUTER_KEYS = {"published": "stockfish_router_published",
               "subscribers": "stockfish_router_subscribers",
               "subscriber_errors": "stockfish_router_subscriber_errors",
               "dropped": "stockfish_router_dropped"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ExchangeManager, dict[str, Any]]]:
    """A manager over sim and every offered simulated venue, trading on sim, with
    arbitration on and a journal that holds an open order of a connector no longer
    configured; and one scrape of its metrics server."""
    journal = tmp_path_factory.mktemp("metrics") / "journal.sqlite3"
    with OrderJournal(str(journal)) as seed:
        seed.record_intent(Order("SPY", OrderSide.BUY, 1, connector="gone"))
    saved = plugins._registry
    plugins.load_plugins(reload=True)
    offered: dict[str, Any] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(register=offered.setdefault)
    venues, connectors = [], {}
    for name in ("fix", "ibkr", "zmq"):
        venue = offered[name](port=0)
        connectors[name] = venue.start()
        venues.append(venue)
    connectors["paper"] = {"type": "sim", "venue": "metrics-paper", "primary": True}
    connectors["tape"] = {"type": "sim", "venue": "metrics-tape", "data_only": True}
    manager = ExchangeManager.from_config({
        "connectors": connectors,
        "manager": {"failover_strategy": "primary_backup", "health_check_interval": 0.5,
                    "journal": str(journal),
                    "arbitration": {"enabled": True, "feeds": ["paper", "tape"]}}})
    server = None
    try:
        assert manager.start_all(), manager.get_stats()
        manager.subscribe_price(["SPY"], connectors=["paper", "tape", "ibkr"])
        manager.subscribe_price(["AAA"], connectors=["fix"])
        manager.subscribe_price(["BTCUSD"], connectors=["zmq"])
        order = Order("SPY", OrderSide.BUY, 5)
        manager.send_order(order)
        assert wait_until(lambda: order.status is OrderStatus.FILLED, 15)
        assert wait_until(lambda: all(manager.get_connector(n).stats.updates_normalized
                                      for n in ("fix", "ibkr", "zmq", "paper", "tape")), 30)
        assert wait_until(lambda: manager.monitor.checks > 0, 10)
        paper = manager.get_connector("paper")
        paper.venue.inject_malformed(1)  # type: ignore[attr-defined]
        assert wait_until(lambda: paper.stats.data_errors >= 1, 10)
        venues[1].tws.farm_lost("usfarm")  # the ibkr connector's SPY goes stale
        ibkr = manager.get_connector("ibkr")
        assert wait_until(lambda: "SPY" in ibkr.stale_symbols(), 10)
        (port,) = free_ports(1)
        server = start_metrics_server(StatsCollector.for_manager(manager), port)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        yield manager, {"text": text, "families": families,
                        "samples": {s.name for f in families.values() for s in f.samples}}
    finally:
        if server is not None:
            server.shutdown()
        manager.close()
        for venue in venues:
            venue.stop()
        plugins._registry = saved


def test_every_metric_family_is_exported(running: tuple[ExchangeManager, dict]) -> None:
    _, scrape = running
    missing = sorted(set(METRICS) - set(scrape["families"]))
    assert not missing, missing


def test_every_statistic_has_a_metric(running: tuple[ExchangeManager, dict]) -> None:
    manager, _ = running
    stats = manager.get_stats()
    for name in ("fix", "ibkr", "zmq", "paper", "tape"):
        keys = set(stats[name]) - {manager.get_connector(name).connector_type}
        assert keys <= set(CONNECTOR_KEYS), sorted(keys - set(CONNECTOR_KEYS))
    for report in manager.get_health_status().values():
        assert set(report) <= set(HEALTH_KEYS), sorted(set(report) - set(HEALTH_KEYS))
    assert set(stats["manager"]) <= set(MANAGER_KEYS), sorted(set(stats["manager"])
                                                             - set(MANAGER_KEYS))
    assert set(stats["manager"]["router"]) <= set(ROUTER_KEYS)
    for table in (CONNECTOR_KEYS, HEALTH_KEYS, MANAGER_KEYS, ROUTER_KEYS):
        for target in table.values():
            assert target.startswith(("label ", "text: ")) or target in METRICS, target


def test_plugin_statistics_are_exported(running: tuple[ExchangeManager, dict]) -> None:
    _, scrape = running
    text = scrape["text"]
    assert re.search(r'stockfish_fix_logons\{connector="fix",type="fix"\} [1-9]', text)
    assert 'stockfish_ibkr_link_down{connector="ibkr",type="ibkr"} 0.0' in text
    assert re.search(r'stockfish_zmq_messages_by_endpoint\{connector="zmq",key="tcp://'
                     r'127\.0\.0\.1:\d+",type="zmq"\} [1-9]', text)


def test_data_only_connectors_have_no_order_metrics(
        running: tuple[ExchangeManager, dict]) -> None:
    _, scrape = running
    order_families = ("stockfish_orders", "stockfish_fills", "stockfish_open_orders",
                      "stockfish_unknown_outcome_orders", "stockfish_order_roundtrip_seconds",
                      "stockfish_duplicate_fills")
    for family in order_families:
        labelled = {s.labels.get("connector") for s in scrape["families"][family].samples}
        assert "tape" not in labelled and "zmq" not in labelled, family
        assert "paper" in labelled, family
    assert 'stockfish_updates_total{connector="tape",data_type="price_tick",type="sim"}' \
        in scrape["text"]


def test_the_dashboard_uses_only_exported_metrics(
        running: tuple[ExchangeManager, dict]) -> None:
    _, scrape = running
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs.append(dashboard["templating"]["list"][1]["query"]["query"])
    names = {n for expr in exprs
             for n in re.findall(r"\b((?:stockfish|process|python)_[a-z0-9_]+)", expr)}
    assert len(names) > 40
    unknown = sorted(names - scrape["samples"])
    assert not unknown, f"the dashboard asks for metrics never exported: {unknown}"
    described = {name for name in METRICS}
    used = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}
    assert described - used == set(), f"metrics without a panel: {sorted(described - used)}"
