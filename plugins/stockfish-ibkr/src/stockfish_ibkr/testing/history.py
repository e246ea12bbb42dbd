"""Historical data at the fake TWS: IB's pacing rules, time and size parsing, bar making.

IB's historical-data limits (TWS API docs, "Historical Data Limitations"): no identical
request within 15 seconds; no six or more requests for the same contract, exchange and tick
type within two seconds; no more than 60 requests in any ten minutes. BID_ASK requests count
twice. A request that breaks one is answered with error 162 "pacing violation".
"""

from __future__ import annotations

import calendar
import collections
import random
import time
from collections.abc import Hashable
from typing import Any

from stockfish_ibkr.testing import protocol as p
from stockfish_ibkr.testing.book import Instrument

__all__ = ["HistoricalPacing", "bar_seconds", "duration_seconds", "make_bars",
           "parse_end_time", "parse_exec_time", "what_words"]

_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}


class HistoricalPacing:
    """IB's three historical pacing rules, counted over every request that arrives."""

    def __init__(self, max_requests: int = 60, window: float = 600.0,
                 identical_interval: float = 15.0, same_contract_max: int = 5,
                 same_contract_window: float = 2.0) -> None:
        self.max_requests = max_requests
        self.window = window
        self.identical_interval = identical_interval
        self.same_contract_max = same_contract_max
        self.same_contract_window = same_contract_window
        self._times: collections.deque[float] = collections.deque()
        self._last: dict[Hashable, float] = {}
        self._by_contract: dict[Hashable, collections.deque[float]] = {}

    def violates(self, identical: Hashable, contract: Hashable, weight: int,
                 now: float) -> bool:
        """Count a request (``weight`` 2 for BID_ASK); True when it breaks a rule."""
        times = self._times
        while times and now - times[0] > self.window:
            times.popleft()
        for _ in range(weight):
            times.append(now)
        last = self._last.get(identical)
        self._last[identical] = now
        recent = self._by_contract.setdefault(contract, collections.deque())
        while recent and now - recent[0] > self.same_contract_window:
            recent.popleft()
        recent.append(now)
        return (len(times) > self.max_requests
                or (last is not None and now - last < self.identical_interval)
                or len(recent) > self.same_contract_max)


def duration_seconds(text: str) -> int:
    """``"2 D"`` -> 172800 (0 when unreadable)."""
    try:
        count, unit = text.split()
        return int(count) * _UNITS[unit.upper()[0]]
    except (ValueError, KeyError):
        return 0


def bar_seconds(text: str) -> int:
    """``"5 mins"`` -> 300 (0 when unreadable)."""
    try:
        count, unit = text.split()
        n = int(count)
    except ValueError:
        return 0
    unit = unit.lower()
    for prefix, seconds in (("sec", 1), ("min", 60), ("hour", 3600), ("day", 86400),
                            ("week", 7 * 86400), ("month", 30 * 86400)):
        if unit.startswith(prefix):
            return n * seconds
    return 0


def parse_exec_time(text: str) -> float | None:
    """``yyyymmdd hh:mm:ss`` or ``yyyymmdd-hh:mm:ss`` (UTC) -> epoch seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = time.strptime(text[:17].replace("-", " "), "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


def parse_end_time(text: str, now: float) -> float:
    """A historical request's endDateTime ('' = now; a time zone suffix is read as UTC)."""
    text = text.strip()
    if not text:
        return now
    parsed = parse_exec_time(text)
    if parsed is None and len(text) >= 8 and text[:8].isdigit():
        parsed = float(calendar.timegm(time.strptime(text[:8], "%Y%m%d")))
    return now if parsed is None else min(parsed, now)


# whatToShow -> (word in "HMDS query returned no data", word in "No historical market data")
_WHAT_WORDS = {"TRADES": ("Trades", "Last"), "MIDPOINT": ("Midpoint", "MidPoint"),
               "BID": ("Bid", "Bid"), "ASK": ("Ask", "Ask"), "BID_ASK": ("Bid_Ask", "BidAsk")}


def what_words(what: str) -> tuple[str, str]:
    return _WHAT_WORDS.get(what.upper(), (what.title(), what.title()))


def make_bars(inst: Instrument, step: int, span: int, end: float,
              date_format: str) -> tuple[str, str, int, list[Any]]:
    """Seeded random-walk bars of ``step`` seconds over ``span`` seconds ending at ``end``,
    none before the instrument was listed: (start text, end text, count, flat fields)."""
    end_ts = int(end) // step * step
    count = min(int(span // step), 2000, int((end_ts - inst.listed) // step))
    if count <= 0:
        return "", "", 0, []
    rng = random.Random(inst.con_id * 7919 + count)
    price = inst.price
    d = inst.decimals
    bars: list[Any] = []
    for n in range(count):
        ts = end_ts - (count - n) * step
        o = inst.round(price)
        c = inst.round(max(o * (1 + rng.gauss(0, 0.001)), inst.min_tick))
        h = max(o, c) + inst.min_tick * rng.randrange(0, 4)
        low = max(min(o, c) - inst.min_tick * rng.randrange(0, 4), inst.min_tick)
        vol = rng.randrange(100, 10_000)
        if date_format == "2":
            date = str(ts)
        elif step >= 86400:
            date = time.strftime("%Y%m%d", time.gmtime(ts))
        else:
            date = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(ts))
        bars += [date, p.num(o, d), p.num(inst.round(h), d), p.num(inst.round(low), d),
                 p.num(c, d), vol, p.num(inst.round((o + c) / 2), d), rng.randrange(1, 50)]
        price = c
    start_text = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(end_ts - count * step))
    end_text = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(end_ts))
    return start_text, end_text, count, bars
