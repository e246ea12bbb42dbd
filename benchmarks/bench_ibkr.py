"""IBKR: raw ib_insync vs the connector, against the same fake TWS in another process.

- ticks/s: the fake answers reqMktData with a burst of N wire ticks (the last sets volume
  to N). Raw: an ib_insync ``pendingTickersEvent`` handler reading bid/ask/last. Ours:
  ``IBKRConnector.subscribe_price`` -> normalize -> router -> a subscriber. Each rate is N
  over the time until the consumer has seen the last tick.
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

    def __init__(self, burst: int) -> None:
        # The order round trip paces itself under IB's 50/s; the tick burst is not paced.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_ibkr.testing", "--burst", str(burst),
             "--max-messages-per-second", "1000", "--parent-pid", str(os.getpid())],
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


def raw_ticks(port: int, client_id: int, n: int) -> float:
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
        ib.reqMktData(contract)
        end = ib.run(asyncio.wait_for(done, 120))
        return n / (end - start)
    finally:
        ib.disconnect()


def ours_ticks(port: int, client_id: int, n: int) -> float:
    from stockfish_core.router import DataFeedRouter
    from stockfish_ibkr.connector import IBKRConnector

    router = DataFeedRouter()
    finished = threading.Event()
    end = [0.0]
    delivered = [0]

    def subscriber(update: Any) -> None:
        delivered[0] += 1
        if update.payload.volume == n:
            end[0] = time.perf_counter()
            finished.set()

    router.subscribe(subscriber)
    connector = IBKRConnector(router, port=port, client_id=client_id, heartbeat_interval=30.0)
    assert connector.connect(), connector.get_stats()["last_error"]
    try:
        connector.qualify("SPY")
        start = time.perf_counter()
        connector.subscribe_price("SPY")
        assert finished.wait(120), "the burst never completed"
        return n / (end[0] - start)
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
    venue = Venue(n_ticks)
    client = iter(range(100, 10_000))
    try:
        raw_rates, our_rates = [], []
        for _ in range(repeats):  # interleaved so that drift hits both alike
            raw_rates.append(common.clean(raw_ticks, venue.port, next(client), n_ticks))
            our_rates.append(common.clean(ours_ticks, venue.port, next(client), n_ticks))
        raw_lat = common.clean(raw_orders, venue.port, next(client), n_orders)
        our_lat = common.clean(ours_orders, venue.port, next(client), n_orders)
    finally:
        venue.close()
    p = common.percentile
    metrics = [
        common.metric("ticks/s end to end (router subscriber)", "ticks/s", our_rates, raw_rates,
                      goal=">= 0.8x raw ib_insync", goal_ratio=0.8),
        common.metric("order round trip p50 @40/s", "ms", [p(our_lat, 0.5)], [p(raw_lat, 0.5)],
                      higher_is_better=False, goal="report", samples=our_lat),
        common.metric("order round trip p99 @40/s", "ms", [p(our_lat, 0.99)],
                      [p(raw_lat, 0.99)], higher_is_better=False,
                      goal="<= 1.5x raw ib_insync", goal_ratio=1.5),
    ]
    common.write("ibkr", args, metrics,
                 notes=f"{n_ticks} wire ticks per run x {repeats}; {n_orders} market orders "
                       f"at {ORDER_RATE:g}/s; fake TWS in a separate process")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
