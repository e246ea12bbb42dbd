"""Historical bars (reqHistoricalData) within IB's pacing rules, with a short-lived cache
for identical requests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stockfish_core.models import MarketUpdate, OHLCVBar

from stockfish_ibkr.pacing import HistoricalPacer, PacingError
from stockfish_ibkr.session import SessionMixin

__all__ = ["HistoryMixin"]

_BAR_SECONDS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 604800,
                "month": 2592000}


class HistoryMixin(SessionMixin):
    """The historical-data role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        def qualify(self, symbol: str) -> Any: ...

        def on_bar(self, bar: Any, symbol: str = "",
                   interval_s: int = 5) -> MarketUpdate | None: ...

    def _init_history(self) -> None:
        s = self.settings
        self._hist_pacer = HistoricalPacer(s.historical_max_requests, s.historical_window,
                                           s.historical_identical_interval)
        self._hist_cache: dict[tuple[Any, ...], tuple[float, list[OHLCVBar]]] = {}

    def get_historical_bars(
        self, symbol: str, *, duration: str = "1 D", bar_size: str = "1 min",
        what_to_show: str = "TRADES", end: str = "", use_rth: bool = False,
        timeout: float | None = None,
    ) -> list[OHLCVBar]:
        """Historical bars (reqHistoricalData) within IB's pacing rules.

        An identical request within ``historical_identical_interval`` seconds is answered
        from the previous result; past ``historical_max_requests`` per
        ``historical_window`` the call waits up to ``timeout`` then raises PacingError.
        """
        key = (symbol, duration, bar_size, what_to_show, end, use_rth)
        limit = self.settings.request_timeout if timeout is None else timeout
        cached = self._hist_cache.get(key)
        if cached is not None and self._hist_pacer.identical_recently(key):
            self.ib_counters["historical_cache_hits"] += 1
            return list(cached[1])
        self._require_connected()
        contract = self.qualify(symbol)
        deadline = time.monotonic() + limit
        while (wait := self._hist_pacer.check(key)) > 0:
            if time.monotonic() + wait > deadline:
                self.ib_counters["pacing_refusals"] += 1
                raise PacingError(f"{self.name}: IB historical-data pacing: retry in "
                                  f"{wait:.1f}s", wait)
            self.ib_counters["historical_pacing_waits"] += 1
            if self.wait_closing(wait):
                raise PacingError(f"{self.name}: closing", 0.0)
        self._pace()
        request = (symbol, contract, duration, bar_size, what_to_show, end, use_rth, limit)
        bars = self._run(self._historical_async, request, timeout=limit + 1.0)
        self._hist_cache[key] = (time.monotonic(), bars)
        return list(bars)

    async def _historical_async(self, request: tuple[Any, ...]) -> list[OHLCVBar]:
        symbol, contract, duration, bar_size, what, end, use_rth, limit = request
        ib = self._live_ib()
        raw = await self._ask(ib, ib.reqHistoricalDataAsync(
            contract, end, duration, bar_size, what, use_rth, 1, False, [], limit), limit + 0.5)
        interval = _bar_seconds(bar_size)
        out = []
        for bar in raw:
            self.stats.updates_received += 1
            update = self.on_bar(bar, symbol, interval)
            if update is not None:
                out.append(update.payload)
        return out


def _bar_seconds(bar_size: str) -> int:
    try:
        count, unit = bar_size.split()
        n = int(count)
    except ValueError:
        return 60
    unit = unit.lower()
    for prefix, seconds in _BAR_SECONDS.items():
        if unit.startswith(prefix):
            return n * seconds
    return 60

