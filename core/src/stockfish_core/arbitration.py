"""Market-data arbitration: one stream per symbol from the best live feed.

The same symbol subscribed through several connectors arrives on the manager's router once
per feed. The arbitrator forwards to its own ``output`` router only the updates of the
feed currently active for that symbol: the most preferred feed that is connected and not
stale. A feed silent for ``stale_after`` seconds yields to the next; when a more preferred
feed delivers again while connected, it takes the symbol back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from stockfish_core.connector import BaseConnector
from stockfish_core.models import MarketUpdate
from stockfish_core.router import DataFeedRouter

__all__ = ["FeedArbitrator"]

log = logging.getLogger(__name__)


class FeedArbitrator:
    """See the module docstring. ``preference(symbol)`` returns connector names in order of
    preference; ``connectors()`` the connectors by name; ``on_switch(symbol, old, new,
    reason)`` is told of every change of active feed."""

    def __init__(self, source: DataFeedRouter, stale_after: float,
                 preference: Callable[[str], list[str]],
                 connectors: Callable[[], dict[str, BaseConnector]],
                 on_switch: Callable[[str, str | None, str | None, str], None]) -> None:
        self.output = DataFeedRouter()
        self.stale_after_ns = int(stale_after * 1e9)
        self.preference = preference
        self.connectors = connectors
        self.on_switch = on_switch
        self.switches = 0
        self.suppressed = 0
        self._active: dict[str, str | None] = {}
        self._last_seen: dict[str, dict[str, int]] = {}
        self._first_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription = source.subscribe(self.on_update)

    # -- hot path (connector threads) -----------------------------------------------------
    def on_update(self, update: MarketUpdate) -> None:
        symbol = update.symbol
        seen = self._last_seen.get(symbol)
        if seen is None:
            seen = self._last_seen.setdefault(symbol, {})
        seen[update.source] = time.monotonic_ns()
        active = self._active.get(symbol)
        if active == update.source:
            self.output.publish(update)
            return
        if active is None:
            first = self._first_seen.setdefault(symbol, seen[update.source])
            if self._may_start(symbol, update.source, seen[update.source] - first):
                self._switch(symbol, update.source, "first feed")
                self.output.publish(update)
            else:
                self.suppressed += 1
        elif self._outranks(symbol, update.source, active):
            self._switch(symbol, update.source, "preferred feed is live")
            self.output.publish(update)
        else:
            self.suppressed += 1

    def _may_start(self, symbol: str, source: str, waited_ns: int) -> bool:
        """Whether ``source`` may start carrying ``symbol``: it is the most preferred feed
        that is connected, or that one has not delivered within ``stale_after`` of the
        symbol's first update (feeds answer a new subscription in any order)."""
        order = self.preference(symbol)
        if source not in order:
            return False
        connectors = self.connectors()
        best = next((name for name in order if (c := connectors.get(name)) is not None
                     and c.is_connected), None)
        return source == best or waited_ns >= self.stale_after_ns

    def _outranks(self, symbol: str, candidate: str, active: str) -> bool:
        """A feed not in the symbol's preference list never carries it."""
        order = self.preference(symbol)
        if candidate not in order:
            return False
        if active not in order:
            return True
        if order.index(candidate) >= order.index(active):
            return False
        connector = self.connectors().get(candidate)
        return connector is not None and connector.is_connected

    def _switch(self, symbol: str, new: str | None, reason: str) -> None:
        with self._lock:
            old = self._active.get(symbol)
            if old == new:
                return
            self._active[symbol] = new
            # Feeds answer a new subscription in any order: settling on the preferred one
            # within the first stale_after is start-up, not a failover.
            settling = time.monotonic_ns() - self._first_seen.get(symbol, 0) \
                < self.stale_after_ns
            if old is None or settling:
                return
            self.switches += 1
        if old is not None:
            log.info("feed for %s: %s -> %s (%s)", symbol, old, new, reason)
            self.on_switch(symbol, old, new, reason)

    # -- periodic check -------------------------------------------------------------------
    def check(self) -> None:
        """Move symbols off feeds that are down or stale."""
        now = time.monotonic_ns()
        connectors = self.connectors()
        for symbol, active in list(self._active.items()):
            if active is None:
                continue
            connector = connectors.get(active)
            seen = self._last_seen.get(symbol, {})
            fresh = now - seen.get(active, 0) <= self.stale_after_ns
            if connector is not None and connector.is_connected and fresh:
                continue
            reason = "feed down" if connector is None or not connector.is_connected \
                else f"no update for {self.stale_after_ns / 1e9:g} s"
            for name in self.preference(symbol):
                other = connectors.get(name)
                if name == active or other is None or not other.is_connected:
                    continue
                if now - seen.get(name, 0) <= self.stale_after_ns:
                    self._switch(symbol, name, reason)
                    break

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        period = max(self.stale_after_ns / 4e9, 0.05)

        def run() -> None:
            while not self._stop.wait(period):
                self.check()

        self._thread = threading.Thread(target=run, name="stockfish-arbitration", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        self._subscription.close()

    def active_feeds(self) -> dict[str, str | None]:
        return dict(self._active)

    def feed_ages(self) -> dict[str, dict[str, float]]:
        """Seconds since each feed last delivered each symbol."""
        now = time.monotonic_ns()
        return {symbol: {feed: (now - seen) / 1e9 for feed, seen in list(feeds.items())}
                for symbol, feeds in list(self._last_seen.items())}

    def get_stats(self) -> dict[str, Any]:
        return {"active": self.active_feeds(), "switches": self.switches,
                "suppressed": self.suppressed}
