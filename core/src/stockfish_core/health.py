"""Connector health: a score for BEST_AVAILABLE routing and the periodic health monitor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from stockfish_core.connector import BaseConnector

__all__ = ["HealthMonitor", "health_report", "health_score"]

log = logging.getLogger(__name__)


def health_score(connector: BaseConnector, primary: bool = False) -> float:
    """0 (unusable) to about 100: connected, fresh heartbeat, few recent errors, market data
    not stale, fast order round trips. The primary gets a small bonus so that ties go to
    it."""
    if not connector.is_connected:
        return 0.0
    score = 100.0
    interval = connector.heartbeat_period()
    age = connector.heartbeat_age()
    if age is not None:
        score -= min(40.0, 40.0 * age / (2 * interval))
    score -= min(30.0, 10.0 * connector.recent_errors(60.0))
    stale = connector.stale_symbols()
    if stale:
        subscribed = max(len(connector.subscribed_symbols), len(stale))
        score -= 40.0 * len(stale) / subscribed
    latencies = sorted(connector.stats.order_latency_ns)
    if latencies:
        p50_ms = latencies[len(latencies) // 2] / 1e6
        score -= min(20.0, p50_ms / 10.0)
    if primary:
        score += 5.0
    return max(score, 0.1)


def health_report(connector: BaseConnector, primary: bool = False) -> dict[str, Any]:
    latencies = sorted(connector.stats.order_latency_ns)
    return {
        "status": connector.status.value,
        "connected": connector.is_connected,
        "healthy": connector.is_connected and not connector.is_stale(),
        "stale": connector.is_stale(),
        "score": round(health_score(connector, primary), 2),
        "heartbeat_age_s": connector.heartbeat_age(),
        "recent_errors": connector.recent_errors(60.0),
        "stale_symbols": connector.stale_symbols(),
        "order_latency_ms_p50": latencies[len(latencies) // 2] / 1e6 if latencies else None,
        "primary": primary,
        "data_only": connector.data_only,
        "read_only": connector.read_only,
    }


class HealthMonitor:
    """Every ``interval`` seconds, probe each connected connector; a silent one (no
    heartbeat or update for two heartbeat intervals) or one whose probe fails is handed to
    its reconnect logic. ``on_tick`` runs after each round (the manager hooks arbitration and
    stats there)."""

    def __init__(self, connectors: Callable[[], list[BaseConnector]], interval: float,
                 on_tick: Callable[[], None] | None = None) -> None:
        self.connectors = connectors
        self.interval = interval
        self.on_tick = on_tick
        self.checks = 0
        self.silent_detected = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stockfish-health",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()

    def check_once(self) -> int:
        """One round of checks; returns how many connectors were found silent or dead."""
        found = 0
        self.checks += 1
        for connector in self.connectors():
            if self._stop.is_set() or not connector.is_connected or connector.closing:
                continue
            if connector.is_stale():
                age = connector.heartbeat_age() or 0.0
                found += 1
                self.silent_detected += 1
                log.warning("health check: %s is silent for %.1f s", connector.name, age)
                connector.on_silence(age)  # the connector's own way to drop a stalled link
                continue
            reason = None
            try:
                alive = connector.is_connected_check()
            except Exception as exc:  # a failing probe is a dead connection
                alive, reason = False, f"probe failed: {exc}"
            if not alive and reason is None:
                reason = "probe failed"
            if reason is not None and connector.is_connected:
                found += 1
                self.silent_detected += 1
                log.warning("health check: %s is %s; reconnecting", connector.name, reason)
                connector.handle_connection_error(f"health check: {reason}")
            elif connector.recovering and not connector.reconnecting:
                # The reconciliation of the last run's orders failed (the link hiccuped,
                # the venue did not answer): the connector takes no new order until it ran.
                try:
                    connector.reconcile_orders()
                except Exception as exc:
                    log.warning("health check: %s: reconciliation of the last run's orders "
                                "failed again: %s", connector.name, exc)
        if self.on_tick is not None:
            self.on_tick()
        return found
