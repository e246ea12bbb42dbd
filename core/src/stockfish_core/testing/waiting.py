"""Waiting on a connector's observable events, with timeouts (never a bare sleep)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.models import DataType, MarketUpdate
from stockfish_core.orders import OrderEvent
from stockfish_core.router import DataFeedRouter

__all__ = ["Recorder", "wait_until"]

# Stats counters change on the connector's thread without a callback; this is how often a
# waiter re-checks them while it waits on the recorder's condition.
_RECHECK_S = 0.02


def wait_until(predicate: Callable[[], bool], timeout: float,
               cond: threading.Condition | None = None) -> bool:
    """Wait until ``predicate()`` holds or ``timeout`` elapses; returns the final value.

    With ``cond`` the wait wakes on its notifications; counters without a callback are
    re-checked every 20 ms.
    """
    cond = cond or threading.Condition()
    deadline = time.monotonic() + timeout
    with cond:
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return predicate()
            cond.wait(min(remaining, _RECHECK_S))
    return True


class Recorder:
    """Records a connector's updates, status changes and order events for assertions."""

    def __init__(self, connector: BaseConnector, router: DataFeedRouter) -> None:
        self.connector = connector
        self.updates: list[MarketUpdate] = []
        self.statuses: list[ConnectorStatus] = []
        self.order_events: list[OrderEvent] = []
        self.cond = threading.Condition()
        self.subscription = router.subscribe(self._on_update)
        connector.add_status_listener(self._on_status)
        connector.add_order_listener(self._on_order)

    def _on_update(self, update: MarketUpdate) -> None:
        with self.cond:
            self.updates.append(update)
            self.cond.notify_all()

    def _on_status(self, _c: Any, _old: ConnectorStatus, new: ConnectorStatus,
                   _reason: str | None) -> None:
        with self.cond:
            self.statuses.append(new)
            self.cond.notify_all()

    def _on_order(self, event: OrderEvent) -> None:
        with self.cond:
            self.order_events.append(event)
            self.cond.notify_all()

    def count(self, data_type: DataType | None = None, symbol: str | None = None) -> int:
        with self.cond:
            return sum(1 for u in self.updates
                       if (data_type is None or u.data_type is data_type)
                       and (symbol is None or u.symbol == symbol))

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        return wait_until(predicate, timeout, self.cond)

    def wait_updates(self, n: int, timeout: float, data_type: DataType | None = None,
                     symbol: str | None = None) -> bool:
        """Wait for ``n`` more matching updates than have arrived so far."""
        start = self.count(data_type, symbol)
        return self.wait(lambda: self.count(data_type, symbol) >= start + n, timeout)

    def wait_count(self, n: int, timeout: float, data_type: DataType | None = None,
                   symbol: str | None = None) -> bool:
        """Wait until ``n`` matching updates have arrived in all (counting from zero)."""
        return self.wait(lambda: self.count(data_type, symbol) >= n, timeout)

    def wait_status(self, status: ConnectorStatus, timeout: float, after: int = 0) -> bool:
        """Wait until ``status`` is seen among the changes recorded from index ``after``."""
        return self.wait(lambda: status in self.statuses[after:], timeout)

    def close(self) -> None:
        self.subscription.close()
        self.connector.remove_status_listener(self._on_status)
