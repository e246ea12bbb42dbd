"""IBKR: raw ib_insync vs the connector, against the same fake TWS in another process.

- ticks/s, burst: the fake answers reqMktData with a burst of N wire ticks (the last sets
  volume to N). Raw: an ib_insync ``pendingTickersEvent`` handler reading bid/ask/last.
  Ours: ``IBKRConnector.subscribe_price`` -> normalize -> router -> a subscriber. Each rate
  is N over the time until the consumer has seen the last tick; CPU per wire tick is the
  process CPU time over the same span divided by N.
- saturation: three subscriptions (SPY, QQQ, IWM) on one connection, the fake TWS
  streaming unthrottled (``--tick-interval 0``: a market step for every subscribed
  instrument, four wire ticks each, as fast as its loop turns), measured over 3 s windows
  after a 1 s warm-up. Two counts per window: wire ticks consumed (raw: ``len(t.ticks)``
  summed in the handler; ours: the connector's ``updates_received``) and updates handed to
  user code (raw: the tickers a ``pendingTickersEvent`` hands over, each read for
  bid/ask/last/sizes/volume; ours: the router's updates, read alike). Both libraries
  coalesce: ib_insync updates a ticker once per network read, whatever number of ticks
  the read held, and the connector publishes that ticker's state once per read.
- order round trip at 40 orders/s (under IB's 50 messages/s): placeOrder -> Filled. Raw:
  ``IB.placeOrder`` and the trade's ``filledEvent``; ours: ``send_order`` -> FILLED event.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks import common

ORDER_RATE = 40.0
# Both clients send ~8 requests when they connect; ib_insync throttles at 45 per second, so
# orders start once those have left the one-second window (steady state, for both alike).
SETTLE_S = 1.1


class Venue:
    """The fake TWS in a child process."""

    def __init__(self, burst: int = 0, tick_interval: float = 0.05) -> None:
        # The order round trip paces itself under IB's 50/s; the tick burst is not paced.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_ibkr.testing", "--burst", str(burst),
             "--tick-interval", str(tick_interval), "--max-messages-per-second", "1000",
             "--parent-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.entry = json.loads(self.proc.stdout.readline())
        self.port = int(self.entry["port"])

    def close(self) -> None:
        self.proc.terminate()  # SIGTERM: the fake stops cleanly
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def raw_ticks(port: int, client_id: int, n: int) -> tuple[float, float]:
    """(wire ticks/s, µs of CPU per wire tick) over a burst of ``n``."""
    import ib_insync

    ib = ib_insync.IB()
    ib.connect("127.0.0.1", port, clientId=client_id, timeout=10)
    try:
        contract = ib.qualifyContracts(ib_insync.Stock("SPY", "SMART", "USD"))[0]
        loop = asyncio.get_event_loop()
        done: asyncio.Future[float] = loop.create_future()
        seen = [0]

        def on_tickers(tickers: Any) -> None:
            for t in tickers:
                seen[0] += len(t.ticks)
                _ = (t.bid, t.ask, t.last, t.bidSize, t.askSize, t.volume)
                if t.volume == n and not done.done():
                    done.set_result(time.perf_counter())

        ib.pendingTickersEvent += on_tickers
        start = time.perf_counter()
        cpu = time.process_time()
        ib.reqMktData(contract)
        end = ib.run(asyncio.wait_for(done, 120))
        return n / (end - start), (time.process_time() - cpu) / n * 1e6
    finally:
        ib.disconnect()


def ours_ticks(port: int, client_id: int, n: int) -> tuple[float, float]:
    """(wire ticks/s, µs of CPU per wire tick) over a burst of ``n``."""
    from stockfish_core.router import DataFeedRouter
    from stockfish_ibkr.connector import IBKRConnector

    router = DataFeedRouter()
    finished = threading.Event()
    end = [0.0, 0.0]
    delivered = [0]

    def subscriber(update: Any) -> None:
        delivered[0] += 1
        tick = update.payload
        _ = (tick.bid, tick.ask, tick.last, tick.bid_size, tick.ask_size, tick.volume)
        if tick.volume == n:
            end[:] = [time.perf_counter(), time.process_time()]
            finished.set()

    router.subscribe(subscriber)
    connector = IBKRConnector(router, port=port, client_id=client_id, heartbeat_interval=30.0)
    assert connector.connect(), connector.get_stats()["last_error"]
    try:
        connector.qualify("SPY")
        start = time.perf_counter()
        cpu = time.process_time()
        connector.subscribe_price("SPY")
        assert finished.wait(120), "the burst never completed"
        return n / (end[0] - start), (end[1] - cpu) / n * 1e6
    finally:
        connector.close()


# ---------------------------------------------------------------------- saturation
SATURATION_SYMBOLS = ("SPY", "QQQ", "IWM")
WINDOW_S = 3.0
WARM_S = 1.0


class Window:
    """One window: wire ticks/s, updates to user code/s, µs of CPU per wire tick."""

    def __init__(self, ticks: int, updates: int, seconds: float, cpu: float) -> None:
        self.ticks = ticks / seconds
        self.updates = updates / seconds
        self.cpu_us = cpu / ticks * 1e6 if ticks else 0.0


def raw_saturation(port: int, client_id: int, windows: int) -> list[Window]:
    import ib_insync

    ib = ib_insync.IB()
    ib.connect("127.0.0.1", port, clientId=client_id, timeout=10)
    counts = [0, 0]  # wire ticks, tickers handed over

    def on_tickers(tickers: Any) -> None:
        for t in tickers:
            counts[0] += len(t.ticks)
            counts[1] += 1
            _ = (t.bid, t.ask, t.last, t.bidSize, t.askSize, t.volume)

    try:
        contracts = ib.qualifyContracts(*(ib_insync.Stock(s, "SMART", "USD")
                                          for s in SATURATION_SYMBOLS))
        ib.pendingTickersEvent += on_tickers
        for contract in contracts:
            ib.reqMktData(contract)
        ib.sleep(WARM_S)
        out = []
        for _ in range(windows):
            ticks, updates = counts
            start, cpu = time.perf_counter(), time.process_time()
            ib.sleep(WINDOW_S)
            out.append(Window(counts[0] - ticks, counts[1] - updates,
                              time.perf_counter() - start, time.process_time() - cpu))
        return out
    finally:
        ib.disconnect()


def ours_saturation(port: int, client_id: int, windows: int) -> list[Window]:
    from stockfish_core.router import DataFeedRouter
    from stockfish_ibkr.connector import IBKRConnector

    router = DataFeedRouter()
    delivered = [0]

    def subscriber(update: Any) -> None:
        delivered[0] += 1
        tick = update.payload
        _ = (tick.bid, tick.ask, tick.last, tick.bid_size, tick.ask_size, tick.volume)

    router.subscribe(subscriber)
    connector = IBKRConnector(router, port=port, client_id=client_id)  # default settings
    assert connector.connect(), connector.get_stats()["last_error"]
    pause = threading.Event()  # never set: its wait is the window
    stats = connector.stats
    try:
        for symbol in SATURATION_SYMBOLS:
            connector.subscribe_price(symbol)
        pause.wait(WARM_S)
        out = []
        for _ in range(windows):
            ticks, updates = stats.updates_received, delivered[0]
            start, cpu = time.perf_counter(), time.process_time()
            pause.wait(WINDOW_S)
            out.append(Window(stats.updates_received - ticks, delivered[0] - updates,
                              time.perf_counter() - start, time.process_time() - cpu))
        return out
    finally:
        connector.close()


def raw_orders(port: int, client_id: int, count: int) -> list[float]:
    import ib_insync

    ib = ib_insync.IB()
    ib.connect("127.0.0.1", port, clientId=client_id, timeout=10)
    latencies: list[float] = []
    try:
        contract = ib.qualifyContracts(ib_insync.Stock("SPY", "SMART", "USD"))[0]
        ib.sleep(SETTLE_S)

        async def drive() -> None:
            loop = asyncio.get_running_loop()
            all_done = loop.create_future()
            start = time.perf_counter()
            for i in range(count):
                delay = start + i / ORDER_RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = time.perf_counter()

                def filled(_: Any, t0: float = t0) -> None:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    if len(latencies) == count and not all_done.done():
                        all_done.set_result(None)

                trade = ib.placeOrder(contract, ib_insync.MarketOrder("BUY", 1))
                trade.filledEvent += filled
            await asyncio.wait_for(all_done, 30)

        ib.run(drive())
        return latencies
    finally:
        ib.disconnect()


def ours_orders(port: int, client_id: int, count: int) -> list[float]:
    from stockfish_core.orders import Order, OrderSide, OrderStatus
    from stockfish_ibkr.connector import IBKRConnector

    connector = IBKRConnector(port=port, client_id=client_id, heartbeat_interval=30.0)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    finished = threading.Event()

    def on_event(event: Any) -> None:
        if event.status is OrderStatus.FILLED and event.kind == "fill":
            latencies.append((time.perf_counter() - sent[event.client_order_id]) * 1000)
            if len(latencies) == count:
                finished.set()

    connector.add_order_listener(on_event)
    assert connector.connect()
    pause = threading.Event()
    try:
        connector.qualify("SPY")
        pause.wait(SETTLE_S)
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / ORDER_RATE - time.perf_counter()
            if delay > 0:
                pause.wait(delay)
            order = Order("SPY", OrderSide.BUY, 1)
            sent[order.client_order_id] = time.perf_counter()
            connector.send_order(order)
        assert finished.wait(30), f"{len(latencies)}/{count} orders filled"
        return latencies
    finally:
        connector.close()




def main() -> None:
    args = common.parse_args(__doc__ or "")
    quick = args.mode == "quick"
    n_ticks = 40_000 if quick else 300_000
    repeats = 3 if quick else 5
    n_orders = 80 if quick else 600
    windows = 1 if quick else 3
    venue = Venue(burst=n_ticks)
    client = iter(range(100, 10_000))
    raw_b: list[tuple[float, float]] = []
    our_b: list[tuple[float, float]] = []
    try:
        for _ in range(repeats):  # interleaved so that drift hits both alike
            raw_b.append(common.clean(raw_ticks, venue.port, next(client), n_ticks))
            our_b.append(common.clean(ours_ticks, venue.port, next(client), n_ticks))
        raw_lat = common.clean(raw_orders, venue.port, next(client), n_orders)
        our_lat = common.clean(ours_orders, venue.port, next(client), n_orders)
    finally:
        venue.close()
    raw_s: list[Window] = []
    our_s: list[Window] = []
    for _ in range(repeats):  # a fresh unthrottled venue for each run: no backlog carried
        for run, out in ((raw_saturation, raw_s), (ours_saturation, our_s)):
            streaming = Venue(tick_interval=0.0)
            try:
                out.extend(common.clean(run, streaming.port, next(client), windows))
            finally:
                streaming.close()
    p = common.percentile
    metrics = [
        common.metric("ticks/s end to end, burst (router subscriber)", "ticks/s",
                      [r for r, _ in our_b], [r for r, _ in raw_b],
                      goal=">= 0.8x raw ib_insync", goal_ratio=0.8),
        common.metric("CPU per wire tick, burst", "us/tick", [c for _, c in our_b],
                      [c for _, c in raw_b], higher_is_better=False, goal="report"),
        common.metric(f"saturation: wire ticks/s, {len(SATURATION_SYMBOLS)} subscriptions",
                      "ticks/s", [w.ticks for w in our_s], [w.ticks for w in raw_s],
                      goal=">= 0.9x raw ib_insync", goal_ratio=0.9),
        common.metric("saturation: updates handed to user code/s", "upd/s",
                      [w.updates for w in our_s], [w.updates for w in raw_s],
                      goal="(context: both coalesce per network read)"),
        common.metric("saturation: CPU per wire tick", "us/tick", [w.cpu_us for w in our_s],
                      [w.cpu_us for w in raw_s], higher_is_better=False, goal="report"),
        common.metric("order round trip p50 @40/s", "ms", [p(our_lat, 0.5)], [p(raw_lat, 0.5)],
                      higher_is_better=False, goal="report", samples=our_lat),
        common.metric("order round trip p99 @40/s", "ms", [p(our_lat, 0.99)],
                      [p(raw_lat, 0.99)], higher_is_better=False,
                      goal="<= 1.5x raw ib_insync", goal_ratio=1.5),
    ]
    common.write("ibkr", args, metrics,
                 notes=f"burst: {n_ticks} wire ticks per run x {repeats}; saturation: "
                       f"{len(SATURATION_SYMBOLS)} subscriptions, fake TWS unthrottled, "
                       f"{repeats} runs x {windows} windows of {WINDOW_S:g} s each (raw and "
                       f"ours alternating, a fresh venue per run), every window a sample; "
                       f"{n_orders} market orders at {ORDER_RATE:g}/s; fake TWS in a "
                       "separate process; CPU = this process's CPU time per wire tick")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
