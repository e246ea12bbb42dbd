"""Historical bars (reqHistoricalData) within IB's pacing rules, with a short-lived cache
for identical requests."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from stockfish_core.errors import ConnectorError, SubscriptionError
from stockfish_core.models import MarketUpdate, OHLCVBar

from stockfish_ibkr.contracts import resolve_contract_spec
from stockfish_ibkr.error_codes import HistoricalAnswer, classify_162
from stockfish_ibkr.pacing import HistoricalPacer, PacingError
from stockfish_ibkr.session import SessionMixin

if TYPE_CHECKING:
    from stockfish_ibkr.farms import FarmBoard

__all__ = ["HISTORY_OPTIONS", "HistoricalDataError", "HistoryMixin"]

log = logging.getLogger(__name__)

#: The options ``get_historical_bars`` takes besides ``duration`` and ``bar_size``.
HISTORY_OPTIONS = ("what_to_show", "end", "use_rth", "timeout")

_BAR_SECONDS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 604800,
                "month": 2592000}


# Codes that answer a historical request (also when the backend takes one for a warning).
_HISTORY_REFUSALS = frozenset({162, 166, 200, 321})


class HistoricalDataError(ConnectorError):
    """TWS refused a historical request as invalid (no such data for the contract, no
    market data permission, a bad bar size or duration): retrying will not help."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _PacedOutError(ConnectorError):
    """TWS refused a historical request for pacing: it may go again after the window."""


class HistoryMixin(SessionMixin):
    """The historical-data role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        farms: FarmBoard

        def qualify(self, symbol: str) -> Any: ...

        def on_bar(self, bar: Any, symbol: str = "",
                   interval_s: int = 5) -> MarketUpdate | None: ...

    def _init_history(self) -> None:
        s = self.settings
        # conId -> the refusal of the historical request in flight for it (loop thread)
        self._history_refusals: dict[int, asyncio.Future[tuple[int, str]]] = {}
        self._history_locks: dict[int, asyncio.Lock] = {}
        self._hist_pacer = HistoricalPacer(s.historical_max_requests, s.historical_window,
                                           s.historical_identical_interval)
        self._hist_cache: dict[tuple[Any, ...], tuple[float, list[OHLCVBar]]] = {}

    def get_historical_bars(self, symbol: str, *, duration: str = "1 D",
                            bar_size: str = "1 min", **options: Any) -> list[OHLCVBar]:
        """Historical bars (reqHistoricalData) within IB's pacing rules.

        Options: ``what_to_show`` (TRADES by default, MIDPOINT for forex: IB has no trades
        for CASH), ``end`` (IB's end date-time, "" for now), ``use_rth`` (regular trading
        hours only), ``timeout`` (seconds; ``request_timeout`` by default); any other is a
        ``TypeError``. An identical request within ``historical_identical_interval`` seconds
        is answered from the previous result; past IB's limits the call waits up to
        ``timeout`` then raises PacingError. TWS's answers (error 162, read by its text):
        "no data" returns ``[]``; a pacing violation is retried once the pacing window
        allows, within ``timeout``; an invalid request (no such data for the contract, no
        permission, a bad bar size) raises :class:`HistoricalDataError`.
        """
        unknown = sorted(set(options) - set(HISTORY_OPTIONS))
        if unknown:
            raise TypeError(f"get_historical_bars: unknown option(s) {', '.join(unknown)}; "
                            f"the IBKR connector takes {', '.join(HISTORY_OPTIONS)}")
        what_to_show = options.get("what_to_show")
        end = options.get("end", "")
        use_rth = bool(options.get("use_rth", False))
        timeout = options.get("timeout")
        if not isinstance(what_to_show, (str, type(None))) or not isinstance(end, str):
            raise TypeError("get_historical_bars: what_to_show and end must be strings")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or not 0 < timeout < float("inf")):
            raise ValueError(f"get_historical_bars: timeout must be seconds > 0, got "
                             f"{timeout!r}")
        what = (what_to_show or self._default_what(symbol)).upper()
        key = (symbol, duration, bar_size, what, end, use_rth)
        limit = self.settings.request_timeout if timeout is None else timeout
        cached = self._hist_cache.get(key)
        if cached is not None and self._hist_pacer.identical_recently(key):
            self.ib_counters["historical_cache_hits"] += 1
            return list(cached[1])
        self._require_connected()
        contract = self.qualify(symbol)
        deadline = time.monotonic() + limit
        weight = 2 if what == "BID_ASK" else 1  # IB counts BID_ASK twice
        while True:
            while (wait := self._hist_pacer.check(key, (symbol, what), weight)) > 0:
                if time.monotonic() + wait > deadline:
                    self.ib_counters["pacing_refusals"] += 1
                    raise PacingError(f"{self.name}: IB historical-data pacing: retry in "
                                      f"{wait:.1f}s", wait)
                self.ib_counters["historical_pacing_waits"] += 1
                if self.wait_closing(wait):
                    raise PacingError(f"{self.name}: closing", 0.0)
            self._pace()
            left = max(deadline - time.monotonic(), 0.5)
            request = (symbol, contract, duration, bar_size, what, end, use_rth, left)
            try:
                bars = self._run(self._historical_async, request, timeout=left + 1.0)
            except _PacedOutError as exc:
                # TWS refused it for pacing (162) or dropped it (100): the pacer's next
                # check waits out the identical-request interval before it goes again.
                self.ib_counters["historical_retries"] += 1
                log.info("%s: historical %s %s refused by TWS (%s); retrying within %.1fs",
                         self.name, symbol, what, exc, max(deadline - time.monotonic(), 0))
                continue
            self._hist_cache[key] = (time.monotonic(), bars)
            return list(bars)

    def _default_what(self, symbol: str) -> str:
        try:
            sec_type = resolve_contract_spec(symbol, self.settings).get("secType")
        except SubscriptionError:
            return "TRADES"  # qualify() reports the bad symbol
        return "MIDPOINT" if sec_type == "CASH" else "TRADES"

    async def _historical_async(self, request: tuple[Any, ...]) -> list[OHLCVBar]:
        symbol, contract, duration, bar_size, what, end, use_rth, limit = request
        ib = self._live_ib()
        con_id = contract.conId
        # One request per contract at a time, so that an error naming the contract names
        # this request (ib_async takes 321 for a warning and would leave it waiting).
        lock = self._history_locks.setdefault(con_id, asyncio.Lock())
        async with lock:
            refused: asyncio.Future[tuple[int, str]] = \
                asyncio.get_running_loop().create_future()
            self._history_refusals[con_id] = refused
            answer = asyncio.ensure_future(self._ask(ib, ib.reqHistoricalDataAsync(
                contract, end, duration, bar_size, what, use_rth, 1, False, [], limit),
                limit + 0.5))
            try:
                await asyncio.wait({answer, refused}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._history_refusals.pop(con_id, None)
            try:
                if refused.done() and not answer.done():
                    answer.cancel()
                    code, text = refused.result()
                else:
                    raw = answer.result()
                    code = 0
            except self._backend().RequestError as exc:
                code, text = exc.code, exc.message
        if code:
            self._historical_refused(symbol, what, code, text)
            self.ib_counters["historical_no_data"] += 1
            return []  # "HMDS query returned no data": a valid range with no bars
        interval = _bar_seconds(bar_size)
        out = []
        for bar in raw:
            self.stats.updates_received += 1
            update = self.on_bar(bar, symbol, interval)
            if update is not None:
                out.append(update.payload)
        return out

    def _historical_refused(self, symbol: str, what: str, code: int, text: str) -> None:
        """Raise what TWS's error on a historical request means (see ``error_codes``);
        return for "no data", the one answer that is not an error."""
        if code == 100:
            raise _PacedOutError(f"IB error 100: {text}")
        if code == 162:
            answer = classify_162(text)
            if answer is HistoricalAnswer.PACING:
                self.ib_counters["historical_pacing_violations"] += 1
                raise _PacedOutError(f"IB error 162: {text}")
            if answer is HistoricalAnswer.NO_DATA:
                return
        farm = self._hmds_farm_note(symbol)
        raise HistoricalDataError(f"{self.name}: historical {what} for {symbol} refused: IB "
                                  f"error {code}: {text}{farm}", code)

    def _history_refused(self, contract: Any, code: int, message: str) -> bool:
        """An error naming the contract of a historical request in flight: that request's
        answer (loop thread). False when no such request waits."""
        waiter = self._history_refusals.get(getattr(contract, "conId", 0))
        if waiter is None or waiter.done() or code not in _HISTORY_REFUSALS:
            return False
        waiter.set_result((code, message))
        return True

    def _hmds_farm_note(self, symbol: str) -> str:
        down = self.farms.down("hmds")
        return f" (HMDS farm {', '.join(down)} down)" if down else ""


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

