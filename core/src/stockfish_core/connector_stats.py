"""A connector's statistics: plain counters, the order latency histogram, and what a
reconciliation found. Written without locks by the thread that owns each counter."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs

from stockfish_core.enums import DataType

__all__ = ["LATENCY_BUCKETS_S", "ConnectorStats", "ReconcileReport", "percentile_ms"]


@attrs.define(slots=True)
class ReconcileReport:
    """What reconciling open orders with the venue found."""

    checked: int = 0
    answered: int = 0
    fills_recovered: int = 0
    status_changes: int = 0
    still_unknown: list[str] = attrs.field(factory=list)


LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0)


class ConnectorStats:
    """Plain counters. Data counters are written only by the connector's I/O thread."""

    __slots__ = (
        "connected_at",
        "connection_errors",
        "data_errors",
        "data_errors_by_kind",
        "duplicate_fills",
        "duplicates_dropped",
        "error_times",
        "fills_applied",
        "fills_external",
        "last_error",
        "last_heartbeat_ns",
        "last_update_ns",
        "latency_buckets",
        "latency_count",
        "latency_sum_ns",
        "messages_lost",
        "order_errors",
        "order_latency_ns",
        "orders_cancelled",
        "orders_external",
        "orders_filled",
        "orders_recovered",
        "orders_rejected",
        "orders_submitted",
        "reconnection_attempts",
        "reconnections",
        "refused_transitions",
        "sequence_gaps",
        "status_changes",
        "updates_by_type",
        "updates_normalized",
        "updates_received",
    )

    def __init__(self) -> None:
        self.connected_at: int | None = None
        self.last_update_ns: int | None = None
        self.last_heartbeat_ns: int | None = None
        self.updates_received = 0
        self.updates_normalized = 0
        self.updates_by_type: dict[DataType, int] = dict.fromkeys(DataType, 0)
        self.data_errors = 0
        self.data_errors_by_kind: dict[str, int] = {}
        self.duplicates_dropped = 0
        self.sequence_gaps = 0
        self.messages_lost = 0
        self.connection_errors = 0
        self.reconnection_attempts = 0
        self.reconnections = 0
        self.orders_submitted = 0
        self.orders_filled = 0
        self.orders_cancelled = 0
        self.orders_rejected = 0
        self.order_errors = 0
        self.fills_applied = 0
        self.orders_external = 0
        self.orders_recovered = 0
        self.fills_external = 0
        self.duplicate_fills = 0
        self.refused_transitions = 0
        self.status_changes = 0
        self.error_times: deque[float] = deque(maxlen=256)
        self.order_latency_ns: deque[int] = deque(maxlen=1024)
        self.last_error: str | None = None
        # Cumulative order round-trip histogram (bounds in LATENCY_BUCKETS_S) for metrics.
        self.latency_buckets = [0] * len(LATENCY_BUCKETS_S)
        self.latency_count = 0
        self.latency_sum_ns = 0

    def record_latency(self, ns: int) -> None:
        self.order_latency_ns.append(ns)
        self.latency_count += 1
        self.latency_sum_ns += ns
        seconds = ns / 1e9
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.latency_buckets[i] += 1
                break


def percentile_ms(values: Iterable[int], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    idx = min(int(q * len(data)), len(data) - 1)
    return data[idx] / 1e6


