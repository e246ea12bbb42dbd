"""Prometheus metrics (optional extra ``stockfish-core[metrics]``).

Metrics are collected from the connectors' statistics when Prometheus scrapes, so the
market-data path does no extra work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.connector_stats import LATENCY_BUCKETS_S

__all__ = ["StatsCollector", "serve_metrics"]

_ORDER_COUNTERS = {"submitted": "orders_submitted", "filled": "orders_filled",
                   "cancelled": "orders_cancelled", "rejected": "orders_rejected",
                   "error": "order_errors"}


class StatsCollector:
    """A prometheus_client collector over connectors and the manager's counters.

    ``connectors`` returns the connectors to report; ``manager_stats`` (optional) returns a
    mapping whose numeric ``failovers``, ``reconnects`` and ``reconciliations`` entries are
    exported as manager counters.
    """

    def __init__(self, connectors: Callable[[], Iterable[BaseConnector]],
                 manager_stats: Callable[[], dict[str, Any]] | None = None) -> None:
        self.connectors = connectors
        self.manager_stats = manager_stats

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        labels = ["connector", "type"]
        up = GaugeMetricFamily("stockfish_connector_up", "1 when connected", labels=labels)
        status = GaugeMetricFamily("stockfish_connector_status",
                                   "1 for the connector's current status",
                                   labels=[*labels, "status"])
        updates = CounterMetricFamily("stockfish_updates", "normalized updates by data type",
                                      labels=[*labels, "data_type"])
        received = CounterMetricFamily("stockfish_messages_received",
                                       "raw messages received", labels=labels)
        errors = CounterMetricFamily("stockfish_data_errors", "rejected inputs by kind",
                                     labels=[*labels, "kind"])
        gaps = CounterMetricFamily("stockfish_sequence_gaps", "sequence gaps", labels=labels)
        lost = CounterMetricFamily("stockfish_messages_lost", "messages lost in gaps",
                                   labels=labels)
        orders = CounterMetricFamily("stockfish_orders", "orders by outcome",
                                     labels=[*labels, "outcome"])
        reconnects = CounterMetricFamily("stockfish_reconnects", "successful reconnects",
                                         labels=labels)
        conn_errors = CounterMetricFamily("stockfish_connection_errors",
                                          "connection errors", labels=labels)
        latency = HistogramMetricFamily("stockfish_order_roundtrip_seconds",
                                        "order send to first venue answer", labels=labels)
        stale = GaugeMetricFamily("stockfish_symbol_stale",
                                  "1 for a subscribed symbol whose market data is stale",
                                  labels=[*labels, "symbol"])
        for connector in self.connectors():
            s = connector.stats
            lv = [connector.name, connector.connector_type]
            up.add_metric(lv, 1.0 if connector.is_connected else 0.0)
            for st in ConnectorStatus:
                status.add_metric([*lv, st.value], 1.0 if connector.status is st else 0.0)
            for data_type, count in list(s.updates_by_type.items()):
                updates.add_metric([*lv, data_type.value], count)
            received.add_metric(lv, s.updates_received)
            for kind, count in list(s.data_errors_by_kind.items()):
                errors.add_metric([*lv, kind], count)
            gaps.add_metric(lv, s.sequence_gaps)
            lost.add_metric(lv, s.messages_lost)
            for outcome, attr in _ORDER_COUNTERS.items():
                orders.add_metric([*lv, outcome], getattr(s, attr))
            reconnects.add_metric(lv, s.reconnections)
            conn_errors.add_metric(lv, s.connection_errors)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BUCKETS_S, s.latency_buckets, strict=True):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", s.latency_count))
            latency.add_metric(lv, buckets, s.latency_sum_ns / 1e9)
            for symbol in connector.stale_symbols():
                stale.add_metric([*lv, symbol], 1.0)
        yield from (up, status, updates, received, errors, gaps, lost, orders, reconnects,
                    conn_errors, latency, stale)
        if self.manager_stats is not None:
            stats = self.manager_stats()
            for key in ("failovers", "reconnects", "reconciliations"):
                value = stats.get(key)
                if isinstance(value, (int, float)):
                    yield CounterMetricFamily(f"stockfish_manager_{key}",
                                              f"manager {key}", value=value)


def serve_metrics(collector: StatsCollector, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a private registry; returns the server
    (call ``.shutdown()`` to stop)."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        raise RuntimeError("metrics need prometheus-client: "
                           "pip install 'stockfish-core[metrics]'") from exc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    result = start_http_server(port, addr=host, registry=registry)
    return result[0] if isinstance(result, tuple) else result
