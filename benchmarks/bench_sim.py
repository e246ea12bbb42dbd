"""``sim``: the built-in paper venue's connector, throughput and CPU per venue message.

The sim venue runs in the connector's process (it is part of the connector) and calls its
sessions on its own thread with one dict per message (a quote or a 10-level book per
subscribed symbol per tick). With ``tick_interval`` at a microsecond it ticks as fast as
its thread turns, so the rate is bounded by the venue's work plus its session's.

Raw: the same venue feeding a bare session that reads the fields a user would (bid, ask,
sizes; the book's levels) and counts. Ours: ``SimConnector`` -> normalize -> router -> a
subscriber reading the same fields. The ratio is therefore the connector's share on top
of a venue that costs the same in both; CPU is the process's CPU time per venue message.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from benchmarks import common

SYMBOLS = [f"SYM{i:02d}" for i in range(10)]
WARM_S = 0.5
_NAMES = itertools.count(1)


class BareSession:
    """The raw reference: the venue's callbacks, reading what a user would read."""

    def __init__(self) -> None:
        self.count = 0

    def on_venue_market(self, kind: str, data: dict[str, Any]) -> None:
        self.count += 1
        if kind == "price":
            _ = (data["bid"], data["ask"], data["last"], data["bid_size"], data["ask_size"])
        elif kind == "book":
            _ = [(p, q) for p, q in data["bids"]] + [(p, q) for p, q in data["asks"]]

    def on_venue_report(self, report: dict[str, Any]) -> None:
        pass

    def on_venue_heartbeat(self) -> None:
        pass

    def on_venue_disconnect(self, reason: str) -> None:
        pass


def _measure(read: Any, seconds: float) -> tuple[float, float]:
    pause = threading.Event()  # never set: its wait is the measuring window
    pause.wait(WARM_S)
    count, start, cpu = read(), time.perf_counter(), time.process_time()
    pause.wait(seconds)
    n = read() - count
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


def raw_run(seconds: float) -> tuple[float, float]:
    from stockfish_core.sim_venue import SimVenue

    venue = SimVenue(f"bench-raw-{next(_NAMES)}", seed=1, tick_interval=1e-6)
    session = BareSession()
    try:
        venue.connect(session)
        for symbol in SYMBOLS:
            venue.subscribe(session, "price", symbol)
            venue.subscribe(session, "book", symbol)
        return _measure(lambda: session.count, seconds)
    finally:
        venue.stop()


def ours_run(seconds: float) -> tuple[float, float]:
    from stockfish_core.router import DataFeedRouter
    from stockfish_core.sim import SimConnector

    router = DataFeedRouter()

    def subscriber(update: Any) -> None:
        p = update.payload
        if hasattr(p, "bid"):
            _ = (p.bid, p.ask, p.last, p.bid_size, p.ask_size)
        else:
            _ = [(lv.price, lv.size) for lv in p.bids] + [(lv.price, lv.size) for lv in p.asks]

    router.subscribe(subscriber)
    connector = SimConnector(router, venue=f"bench-ours-{next(_NAMES)}", seed=1,
                             tick_interval=1e-6)
    try:
        assert connector.connect()
        for symbol in SYMBOLS:
            connector.subscribe_price(symbol)
            connector.subscribe_orderbook(symbol, 10)
        stats = connector.stats
        return _measure(lambda: stats.updates_received, seconds)
    finally:
        connector.close(timeout=3)
        connector.venue.stop()


def main() -> None:
    args = common.parse_args(__doc__ or "")
    quick = args.mode == "quick"
    seconds, repeats = (1.0, 3) if quick else (3.0, 5)
    raw, ours = [], []
    for _ in range(repeats):  # interleaved so that drift hits both alike
        raw.append(common.clean(raw_run, seconds))
        ours.append(common.clean(ours_run, seconds))
    metrics = [
        common.metric("venue messages/s through the connector (quotes + books)", "msg/s",
                      [r for r, _ in ours], [r for r, _ in raw],
                      goal="(context: the venue's own work is in both)"),
        common.metric("CPU per venue message", "us/msg", [c for _, c in ours],
                      [c for _, c in raw], higher_is_better=False, goal="report"),
    ]
    common.write("sim", args, metrics,
                 notes=f"{len(SYMBOLS)} symbols, quote and 10-level book each, venue ticking "
                       f"as fast as it can; {repeats} runs of {seconds:g} s each (raw and ours "
                       "alternating); raw = the same venue feeding a bare session that reads "
                       "the same fields")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
