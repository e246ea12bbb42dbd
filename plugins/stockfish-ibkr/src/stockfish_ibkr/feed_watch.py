"""Feed health: per-symbol staleness, and market data requested again until ticks resume.

A task on the IB loop checks every subscribed symbol a few times a second, reading only the
time of its last tick (set by the hot path) and the state of its data farm:

- its farm is broken (2103): stale, "data farm ... broken", nothing requested (TWS has no
  data to give until the farm is back);
- TWS refused its request (354, 10092, ...): stale with TWS's reason, not requested again;
- silent for longer than ``market_data_stale_after`` (or ``farm_watchdog`` once its farm
  came back, or once it was requested again): stale, and requested again, with a backoff
  from ``farm_watchdog`` doubling up to ``market_data_retry_max``, until ticks resume.

Stale symbols are in health (``BaseConnector.stale_symbols()``, which lowers the score) and
in ``get_stats()['ibkr']['stale_symbols']``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_ibkr.farms import OK, FarmBoard, family, market_farm
from stockfish_ibkr.session import SessionMixin

if TYPE_CHECKING:
    from stockfish_ibkr.market_data import _Route

__all__ = ["FeedWatchMixin"]

log = logging.getLogger(__name__)


@attrs.define(slots=True)
class _Feed:
    """What the watch knows of one symbol's market data."""

    farm: str  # the market-data farm family it depends on
    retries: int = 0  # requests again since ticks last flowed
    next_retry: float = 0.0  # monotonic time the next request again may go
    watch_from: float = 0.0  # ticks expected after this (farm back, requested again)
    refused: str | None = None  # TWS refused the request: why
    stale: str | None = None  # why it is stale now (None: fresh)


class FeedWatchMixin(SessionMixin):
    """The feed-health part of the market-data role of
    :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        farms: FarmBoard
        _by_symbol: dict[str, _Route]

        def _request_quotes(self, ib: Any, route: _Route, force: bool) -> None: ...

        def _request_depth(self, ib: Any, route: _Route, depth: int, force: bool) -> None: ...

    def _init_feed_watch(self) -> None:
        self._feeds: dict[str, _Feed] = {}
        self._watch_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ the watch task
    def _start_feed_watch(self, ib: Any) -> None:
        """Start watching ``ib``'s feeds (loop thread; the task ends with the session)."""
        self._stop_feed_watch()
        self._feeds.clear()
        self._watch_task = asyncio.ensure_future(self._watch_feeds(ib))

    def _stop_feed_watch(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _watch_period(self) -> float:
        s = self.settings
        return max(0.02, min(1.0, s.farm_watchdog / 4, s.market_data_stale_after / 4))

    async def _watch_feeds(self, ib: Any) -> None:
        period = self._watch_period()
        while ib is self._ib:
            await asyncio.sleep(period)
            if ib is not self._ib or not ib.isConnected():
                return
            self._check_feeds(ib, time.monotonic())

    def _feed(self, symbol: str, route: _Route) -> _Feed:
        feed = self._feeds.get(symbol)
        if feed is None:
            farm = market_farm(symbol, route.contract, self.settings.market_data_farms)
            feed = self._feeds[symbol] = _Feed(farm)
        return feed

    def _check_feeds(self, ib: Any, now: float) -> None:
        s = self.settings
        for symbol, route in list(self._by_symbol.items()):
            if not (route.wants_quotes or route.depth):
                continue
            feed = self._feed(symbol, route)
            if feed.refused is not None:
                feed.stale = feed.refused
                continue
            broken = self.farms.family_down(feed.farm)
            if broken is not None:
                feed.stale = f"data farm {broken} broken (2103)"
                continue
            if self._link_down:
                feed.stale = "TWS lost its connection to IB (1100)"
                continue
            last = min(t for t, on in ((route.last_tick, route.wants_quotes),
                                       (route.last_dom, bool(route.depth))) if on)
            if feed.watch_from and last > feed.watch_from:
                # Ticks since the farm came back or the request went again: healthy.
                feed.retries, feed.watch_from, feed.next_retry = 0, 0.0, 0.0
            limit = s.farm_watchdog if feed.watch_from else s.market_data_stale_after
            silent = now - max(last, feed.watch_from)
            if silent <= limit:
                feed.stale = None
                continue
            feed.stale = f"no market data for {silent:.1f} s"
            if now >= feed.next_retry:
                self._rerequest(ib, route, feed, now, feed.stale)

    def _rerequest(self, ib: Any, route: _Route, feed: _Feed, now: float, why: str) -> None:
        """Request ``route``'s market data again; the next time no sooner than a backoff
        from ``farm_watchdog``, doubling, up to ``market_data_retry_max``."""
        s = self.settings
        if route.wants_quotes:
            self._request_quotes(ib, route, force=True)
            self.ib_counters["md_rerequests"] += 1
        if route.depth:
            self._request_depth(ib, route, route.depth, force=True)
            self.ib_counters["md_rerequests"] += 1
        feed.retries += 1
        # After the request, which stamps the route as if a tick had come: only a real
        # tick is later than this.
        feed.watch_from = time.monotonic()
        feed.next_retry = now + min(s.market_data_retry_max,
                                    s.farm_watchdog * 2 ** (feed.retries - 1))
        if feed.retries == 1 or feed.retries % 10 == 0:
            log.warning("%s: %s: %s; market data requested again (%d)", self.name,
                        route.symbol, why, feed.retries)

    # ------------------------------------------------------------------ events
    def _farm_changed(self, ib: Any, farm: str, state: str) -> None:
        """A market-data farm's state changed: once it is back, its feeds must tick within
        ``farm_watchdog`` or are requested again."""
        if state != OK:
            return
        name, now = family(farm), time.monotonic()
        for symbol, route in list(self._by_symbol.items()):
            feed = self._feed(symbol, route)
            if feed.farm == name:
                feed.retries, feed.next_retry, feed.watch_from = 0, 0.0, now

    def _route_for_contract(self, contract: Any) -> _Route | None:
        """The subscription an error's contract belongs to."""
        con_id = getattr(contract, "conId", 0)
        if not con_id:
            return None
        for route in list(self._by_symbol.values()):
            if getattr(route.contract, "conId", None) == con_id:
                return route
        return None

    def _feed_refused(self, route: _Route, reason: str) -> None:
        self._feed(route.symbol, route).refused = reason

    def _feed_requested(self, symbol: str) -> None:
        """A new subscription for ``symbol``: what TWS refused before may work now."""
        feed = self._feeds.get(symbol)
        if feed is not None:
            feed.refused = None

    def _feed_rerequest_soon(self, ib: Any, route: _Route, reason: str, delay: float) -> None:
        """TWS dropped or stopped ``route``'s stream: request it again after ``delay``."""
        feed = self._feed(route.symbol, route)

        def again() -> None:
            current = self._by_symbol.get(route.symbol)
            if ib is self._ib and current is route:
                self._rerequest(ib, route, feed, time.monotonic(), reason)

        asyncio.get_running_loop().call_later(delay, again)

    def _forget_feed(self, symbol: str) -> None:
        self._feeds.pop(symbol, None)

    # ------------------------------------------------------------------ health
    def stale_symbols(self) -> dict[str, str]:
        """Subscribed symbols whose market data is stale now, with why."""
        return {symbol: feed.stale for symbol, feed in list(self._feeds.items())
                if feed.stale is not None and symbol in self._by_symbol}
