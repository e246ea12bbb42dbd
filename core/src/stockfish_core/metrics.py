"""Prometheus metrics (optional extra ``stockfish-core[metrics]``).

Everything ``get_stats()`` and the health check report is exported under conventional
names (``stockfish_*``, counters ending in ``_total``, durations in ``_seconds``) with the
labels ``connector`` and ``type``; order metrics only for connectors that take orders.
Values are read when Prometheus scrapes, so the market-data path does no extra work.

- :data:`METRICS` lists every fixed metric family: name, kind, help, labels.
- A plugin's own statistics (the ``get_stats()[type]`` mapping: ``fix``, ``ibkr``, ``zmq``)
  are exported as gauges named ``stockfish_<type>_<key>``; a mapping of numbers becomes
  one series per entry with the label ``key``.
- Process metrics come from prometheus_client's process, platform and GC collectors.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from stockfish_core.__about__ import __version__
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.connector_stats import LATENCY_BUCKETS_S
from stockfish_core.errors import StockfishError

if TYPE_CHECKING:
    from stockfish_core.manager import ExchangeManager

__all__ = ["METRICS", "MetricsError", "StatsCollector", "serve_metrics",
           "start_metrics_server"]

_C = ("connector", "type")
#: name -> (kind, help, labels). Counter names are given without ``_total`` (the
#: exposition adds it); "orders" marks families only order-capable connectors have.
METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # connector state and health
    "stockfish_connector_up": ("gauge", "1 when connected", _C),
    "stockfish_connector_status": ("gauge", "1 for the connector's current status",
                                   (*_C, "status")),
    "stockfish_connector_info": ("gauge", "the connector's role",
                                 (*_C, "primary", "data_only", "read_only")),
    "stockfish_connector_uptime_seconds": ("gauge", "seconds since the current connection "
                                                    "was made", _C),
    "stockfish_connector_heartbeat_age_seconds": ("gauge", "seconds since the venue was last "
                                                           "heard from", _C),
    "stockfish_last_update_timestamp_seconds": ("gauge", "when the last normalized update "
                                                         "arrived (Unix time)", _C),
    "stockfish_connector_healthy": ("gauge", "1 when connected and not silent", _C),
    "stockfish_connector_stale": ("gauge", "1 when connected but silent for two heartbeat "
                                           "intervals", _C),
    "stockfish_connector_health_score": ("gauge", "the score best_available routing uses "
                                                  "(0 unusable .. about 100)", _C),
    "stockfish_connector_recent_errors": ("gauge", "connection errors in the last minute", _C),
    "stockfish_subscriptions": ("gauge", "subscriptions remembered for re-subscribing", _C),
    # data
    "stockfish_messages_received": ("counter", "raw messages read from the venue", _C),
    "stockfish_updates": ("counter", "normalized updates delivered, by data type",
                          (*_C, "data_type")),
    "stockfish_data_errors": ("counter", "rejected venue inputs, by kind", (*_C, "kind")),
    "stockfish_duplicates_dropped": ("counter", "repeated messages dropped", _C),
    "stockfish_sequence_gaps": ("counter", "gaps in the venue's sequence numbers", _C),
    "stockfish_messages_lost": ("counter", "messages lost in sequence gaps", _C),
    # connection
    "stockfish_connection_errors": ("counter", "lost or failed connections", _C),
    "stockfish_reconnection_attempts": ("counter", "attempts made by the reconnect loop", _C),
    "stockfish_reconnects": ("counter", "reconnect attempts that succeeded", _C),
    "stockfish_status_changes": ("counter", "connector status changes", _C),
    "stockfish_refused_transitions": ("counter", "status changes refused by a state machine",
                                      _C),
    # orders (order-capable connectors only)
    "stockfish_orders": ("counter", "orders by outcome", (*_C, "outcome")),
    "stockfish_fills": ("counter", "executions applied", _C),
    "stockfish_duplicate_fills": ("counter", "repeated executions ignored", _C),
    "stockfish_open_orders": ("gauge", "orders still working", _C),
    "stockfish_external_fills": ("counter", "fills of orders this process did not send", _C),
    "stockfish_connector_recovering": ("gauge", "1 while the orders of the last run wait "
                                                "for their reconciliation", _C),
    "stockfish_symbol_stale": ("gauge", "1 for a subscribed symbol whose market data is stale "
                                        "now", (*_C, "symbol")),
    "stockfish_unknown_outcome_orders": ("gauge", "orders whose outcome waits for "
                                                  "reconciliation", _C),
    "stockfish_order_latency_seconds": ("gauge", "send to venue answer over recent orders, "
                                                 "by quantile", (*_C, "quantile")),
    "stockfish_order_roundtrip_seconds": ("histogram", "order send to first venue answer",
                                          _C),
    # manager
    "stockfish_manager_failovers": ("counter", "failover decisions (orders and feeds)", ()),
    "stockfish_manager_reconnects": ("counter", "connectors back after a lost connection",
                                     ()),
    "stockfish_manager_reconciliations": ("counter", "orders settled by reconciliation", ()),
    "stockfish_manager_orders_refused": ("counter", "orders refused for want of a connector",
                                         ()),
    "stockfish_manager_health_checks": ("counter", "health-check rounds", ()),
    "stockfish_manager_silent_detected": ("counter", "dead or silent connectors found by "
                                                     "health checks", ()),
    "stockfish_manager_orders_tracked": ("gauge", "orders the manager knows", ()),
    "stockfish_manager_order_route": ("gauge", "1 for the connector new orders go to",
                                      ("connector",)),
    "stockfish_manager_info": ("gauge", "the failover strategy and the primary connector",
                               ("failover_strategy", "primary")),
    # router
    "stockfish_router_published": ("counter", "updates published to the router", ()),
    "stockfish_router_subscribers": ("gauge", "router subscribers", ()),
    "stockfish_router_subscriber_errors": ("counter", "subscriber callbacks that raised", ()),
    "stockfish_router_dropped": ("counter", "updates dropped by full queues and streams", ()),
    # arbitration
    "stockfish_arbitration_switches": ("counter", "changes of a symbol's active feed", ()),
    "stockfish_arbitration_suppressed": ("counter", "updates from feeds not active", ()),
    "stockfish_arbitration_active_feed": ("gauge", "1 for the feed a symbol reads from",
                                          ("symbol", "connector")),
    "stockfish_feed_age_seconds": ("gauge", "seconds since a feed last delivered a symbol",
                                   ("symbol", "connector")),
    # order journal
    "stockfish_journal_intents": ("counter", "orders journaled before the wire", ()),
    "stockfish_journal_writes": ("counter", "order records the journal committed", ()),
    "stockfish_journal_queued": ("gauge", "order records waiting for the journal", ()),
    "stockfish_orphaned_orders": ("gauge", "journaled open orders of connectors no longer "
                                           "configured", ("connector",)),
    # process
    "stockfish_build_info": ("gauge", "the stockfish-core version", ("version",)),
    "stockfish_threads": ("gauge", "threads alive in the process", ()),
}

_ORDER_ONLY = {"stockfish_orders", "stockfish_fills", "stockfish_duplicate_fills",
               "stockfish_external_fills", "stockfish_connector_recovering",
               "stockfish_open_orders", "stockfish_unknown_outcome_orders",
               "stockfish_order_latency_seconds", "stockfish_order_roundtrip_seconds"}
_ORDER_OUTCOMES = {"submitted": "orders_submitted", "filled": "orders_filled",
                   "cancelled": "orders_cancelled", "rejected": "orders_rejected",
                   "error": "order_errors", "external": "orders_external",
                   "recovered": "orders_recovered"}
_COUNTER_STATS = {
    "stockfish_messages_received": "updates_received",
    "stockfish_duplicates_dropped": "duplicates_dropped",
    "stockfish_sequence_gaps": "sequence_gaps",
    "stockfish_messages_lost": "messages_lost",
    "stockfish_connection_errors": "connection_errors",
    "stockfish_reconnection_attempts": "reconnection_attempts",
    "stockfish_reconnects": "reconnections",
    "stockfish_refused_transitions": "refused_transitions",
    "stockfish_fills": "fills_applied",
    "stockfish_duplicate_fills": "duplicate_fills",
    "stockfish_external_fills": "fills_external",
}
_MANAGER_COUNTERS = ("failovers", "reconnects", "reconciliations", "orders_refused",
                     "health_checks", "silent_detected")
_NAME = re.compile(r"[^a-zA-Z0-9_]")


class MetricsError(StockfishError):
    """The metrics server cannot run (extra not installed, address unusable)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


class StatsCollector:
    """A prometheus_client collector over connectors, the manager and its health check.

    ``connectors`` returns the connectors to report; ``manager_stats`` (optional) returns
    the manager's ``get_stats()["manager"]`` mapping; ``health`` (optional) the manager's
    ``get_health_status()``; ``arbitrator`` (optional) the manager's feed arbitrator.
    :meth:`for_manager` wires all of them.
    """

    def __init__(self, connectors: Callable[[], Iterable[BaseConnector]],
                 manager_stats: Callable[[], Mapping[str, Any]] | None = None, *,
                 health: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
                 arbitrator: Callable[[], Any] | None = None) -> None:
        self.connectors = connectors
        self.manager_stats = manager_stats
        self.health = health
        self.arbitrator = arbitrator

    @classmethod
    def for_manager(cls, manager: ExchangeManager) -> StatsCollector:
        return cls(manager.list_connectors_objects, lambda: manager.get_stats()["manager"],
                   health=manager.get_health_status, arbitrator=lambda: manager.arbitrator)

    def describe(self) -> list[Any]:
        return []  # families vary with the plugins installed: nothing to pre-declare

    def collect(self) -> Iterator[Any]:
        families = _Families()
        health = self.health() if self.health is not None else {}
        for connector in self.connectors():
            self._connector(families, connector, health.get(connector.name))
        if self.manager_stats is not None:
            self._manager(families, self.manager_stats())
        if self.arbitrator is not None and (arbitrator := self.arbitrator()) is not None:
            self._arbitration(families, arbitrator)
        families.gauge("stockfish_build_info", (__version__,), 1.0)
        families.gauge("stockfish_threads", (), float(threading.active_count()))
        yield from families.all()

    # ------------------------------------------------------------------ per connector
    def _connector(self, f: _Families, connector: BaseConnector,
                   health: Mapping[str, Any] | None) -> None:
        stats = connector.get_stats()
        s = connector.stats
        lv = (connector.name, connector.connector_type)
        orders = not (connector.data_only or connector.capabilities.data_only)
        primary = bool(health.get("primary")) if health else False
        f.gauge("stockfish_connector_up", lv, 1.0 if connector.is_connected else 0.0)
        for status in ConnectorStatus:
            f.gauge("stockfish_connector_status", (*lv, status.value),
                    1.0 if connector.status is status else 0.0)
        f.gauge("stockfish_connector_info", (*lv, str(primary).lower(),
                                             str(connector.data_only).lower(),
                                             str(connector.read_only).lower()), 1.0)
        f.gauge("stockfish_connector_uptime_seconds", lv, float(stats["uptime_s"]))
        age = stats.get("last_heartbeat_age_s")
        if age is not None:
            f.gauge("stockfish_connector_heartbeat_age_seconds", lv, float(age))
        if s.last_update_ns:
            f.gauge("stockfish_last_update_timestamp_seconds", lv, s.last_update_ns / 1e9)
        if health:
            f.gauge("stockfish_connector_healthy", lv, float(bool(health["healthy"])))
            f.gauge("stockfish_connector_stale", lv, float(bool(health["stale"])))
            f.gauge("stockfish_connector_health_score", lv, float(health["score"]))
        f.gauge("stockfish_connector_recent_errors", lv, float(stats["recent_errors"]))
        for symbol in connector.stale_symbols():
            f.gauge("stockfish_symbol_stale", (*lv, symbol), 1.0)
        f.gauge("stockfish_subscriptions", lv, float(stats["subscriptions"]))
        for data_type, count in list(s.updates_by_type.items()):
            f.counter("stockfish_updates", (*lv, data_type.value), count)
        for kind, count in list(s.data_errors_by_kind.items()):
            f.counter("stockfish_data_errors", (*lv, kind), count)
        f.counter("stockfish_status_changes", lv, s.status_changes)
        for name, key in _COUNTER_STATS.items():
            if name in _ORDER_ONLY and not orders:
                continue
            f.counter(name, lv, stats[key])
        if orders:
            for outcome, key in _ORDER_OUTCOMES.items():
                f.counter("stockfish_orders", (*lv, outcome), stats[key])
            f.gauge("stockfish_open_orders", lv, float(stats["open_orders"]))
            f.gauge("stockfish_connector_recovering", lv, float(bool(stats["recovering"])))
            f.gauge("stockfish_unknown_outcome_orders", lv,
                    float(stats["unknown_outcome_orders"]))
            for quantile, key in (("0.5", "order_latency_ms_p50"),
                                  ("0.99", "order_latency_ms_p99")):
                if stats.get(key) is not None:
                    f.gauge("stockfish_order_latency_seconds", (*lv, quantile),
                            stats[key] / 1000.0)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BUCKETS_S, list(s.latency_buckets), strict=True):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", s.latency_count))
            f.histogram("stockfish_order_roundtrip_seconds", lv, buckets,
                        s.latency_sum_ns / 1e9)
        own = stats.get(connector.connector_type)
        if isinstance(own, Mapping):
            self._plugin(f, connector.connector_type, lv, own)

    @staticmethod
    def _plugin(f: _Families, ctype: str, lv: tuple[str, str],
                own: Mapping[str, Any]) -> None:
        prefix = f"stockfish_{_NAME.sub('_', ctype)}_"
        for key, value in own.items():
            name = prefix + _NAME.sub("_", str(key))
            number = _number(value)
            if number is not None:
                f.plugin_gauge(name, f"{ctype} statistic {key}", ("connector", "type"), lv,
                               number)
            elif isinstance(value, Mapping):
                for sub, item in value.items():
                    number = _number(item)
                    if number is not None:
                        f.plugin_gauge(name, f"{ctype} statistic {key}, by key",
                                       ("connector", "type", "key"), (*lv, str(sub)), number)

    # ------------------------------------------------------------------ manager
    @staticmethod
    def _manager(f: _Families, stats: Mapping[str, Any]) -> None:
        for key in _MANAGER_COUNTERS:
            value = _number(stats.get(key))
            if value is not None:
                f.counter(f"stockfish_manager_{key}", (), value)
        tracked = _number(stats.get("orders_tracked"))
        if tracked is not None:
            f.gauge("stockfish_manager_orders_tracked", (), tracked)
        f.gauge("stockfish_manager_info", (str(stats.get("failover_strategy") or ""),
                                           str(stats.get("primary") or "")), 1.0)
        route = stats.get("order_route")
        if isinstance(route, str):
            f.gauge("stockfish_manager_order_route", (route,), 1.0)
        journal = stats.get("journal")
        if isinstance(journal, Mapping):
            f.counter("stockfish_journal_intents", (), float(journal["intents"]))
            f.counter("stockfish_journal_writes", (), float(journal["writes"]))
            f.gauge("stockfish_journal_queued", (), float(journal["queued"]))
        for name, count in dict(stats.get("orphaned_orders") or {}).items():
            f.gauge("stockfish_orphaned_orders", (str(name),), float(count))
        router = stats.get("router")
        if isinstance(router, Mapping):
            for key, name in (("published", "stockfish_router_published"),
                              ("subscriber_errors", "stockfish_router_subscriber_errors"),
                              ("dropped", "stockfish_router_dropped")):
                value = _number(router.get(key))
                if value is not None:
                    f.counter(name, (), value)
            subscribers = _number(router.get("subscribers"))
            if subscribers is not None:
                f.gauge("stockfish_router_subscribers", (), subscribers)

    @staticmethod
    def _arbitration(f: _Families, arbitrator: Any) -> None:
        stats = arbitrator.get_stats()
        f.counter("stockfish_arbitration_switches", (), stats["switches"])
        f.counter("stockfish_arbitration_suppressed", (), stats["suppressed"])
        for symbol, feed in stats["active"].items():
            if feed is not None:
                f.gauge("stockfish_arbitration_active_feed", (symbol, feed), 1.0)
        for symbol, feeds in arbitrator.feed_ages().items():
            for feed, age in feeds.items():
                f.gauge("stockfish_feed_age_seconds", (symbol, feed), age)


class _Families:
    """The metric families of one scrape, created as they are first used."""

    def __init__(self) -> None:
        self._families: dict[str, Any] = {}
        self._shapes: dict[str, int] = {}  # plugin gauge -> how many labels it has

    def _family(self, name: str) -> Any:
        family = self._families.get(name)
        if family is None:
            from prometheus_client.core import (
                CounterMetricFamily,
                GaugeMetricFamily,
                HistogramMetricFamily,
            )

            kind, text, labels = METRICS[name]
            cls = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily,
                   "histogram": HistogramMetricFamily}[kind]
            family = self._families[name] = cls(name, text, labels=list(labels))
        return family

    def gauge(self, name: str, labels: tuple[str, ...], value: float) -> None:
        self._family(name).add_metric(list(labels), value)

    counter = gauge

    def histogram(self, name: str, labels: tuple[str, ...], buckets: list[tuple[str, int]],
                  total: float) -> None:
        self._family(name).add_metric(list(labels), buckets, total)

    def plugin_gauge(self, name: str, text: str, label_names: tuple[str, ...],
                     labels: tuple[str, ...], value: float) -> None:
        family = self._families.get(name)
        if family is None:
            from prometheus_client.core import GaugeMetricFamily

            family = self._families[name] = GaugeMetricFamily(name, text,
                                                              labels=list(label_names))
            self._shapes[name] = len(label_names)
        if self._shapes[name] == len(labels):  # one shape per name and scrape
            family.add_metric(list(labels), value)

    def all(self) -> list[Any]:
        return list(self._families.values())


def start_metrics_server(collector: StatsCollector, port: int,
                         host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a private registry (our collector and the
    process, platform and GC collectors); returns the server (``.shutdown()`` stops it).
    Raises :class:`MetricsError` with the reason when it cannot."""
    try:
        from prometheus_client import (
            GC_COLLECTOR,
            PLATFORM_COLLECTOR,
            CollectorRegistry,
            ProcessCollector,
            start_http_server,
        )
    except ImportError:
        raise MetricsError("metrics need the prometheus-client package: "
                           "pip install 'stockfish-core[metrics]'") from None
    if not 0 < port < 65536:
        raise MetricsError(f"metrics port must be 1..65535, got {port}")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    for shared in (PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(shared)
    try:
        result = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsError(f"cannot serve metrics on {host}:{port}: "
                           f"{exc.strerror or exc}") from None
    return result[0] if isinstance(result, tuple) else result


def serve_metrics(collector: StatsCollector, port: int, host: str = "127.0.0.1") -> Any:
    """Alias of :func:`start_metrics_server` (the name earlier releases used)."""
    return start_metrics_server(collector, port, host)
