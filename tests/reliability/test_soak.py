"""Soak: 100 symbols streaming through the manager for a bounded time while orders flow.
Resident memory stays flat after warm-up, no queue grows without bound, and every
statistic adds up."""

from __future__ import annotations

import gc
import os
import resource
import threading
import time

import pytest
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderType
from stockfish_core.sim import SimConnector

SOAK_S = float(os.environ.get("STOCKFISH_SOAK_SECONDS", "40"))
SYMBOLS = [f"S{i:03d}" for i in range(100)]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6


@pytest.mark.slow
@pytest.mark.timeout(SOAK_S + 120)
def test_soak_memory_flat_and_stats_add_up() -> None:
    tag = now_ns()
    manager = ExchangeManager("round_robin", health_check_interval=1.0)
    for name in ("a", "b"):
        manager.add_connector(SimConnector(name=name, venue=f"soak-{name}-{tag}",
                                           tick_interval=0.01), name)
    queue = manager.router.subscribe_queue(maxsize=5000)
    consumed = [0]
    stop = threading.Event()

    def consumer() -> None:  # a consumer thread that keeps up most of the time
        while not stop.is_set():
            if queue.get(timeout=0.2) is not None:
                consumed[0] += 1

    thread = threading.Thread(target=consumer)
    samples: list[tuple[float, float]] = []
    max_queue = 0
    try:
        assert manager.start_all()
        manager.subscribe_price(SYMBOLS)
        manager.subscribe_orderbook(SYMBOLS[:20], 5)
        thread.start()
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < SOAK_S:
            for _ in range(5):
                order = Order("S000", "BUY", 1, OrderType.LIMIT, price=0.5)
                manager.send_order(order)
                manager.cancel_order(order.client_order_id)
            max_queue = max(max_queue, len(queue))
            if stop.wait(0.5):
                break
            if elapsed > SOAK_S / 4:  # after warm-up
                gc.collect()
                samples.append((elapsed, rss_mb()))
    finally:
        manager.stop_all()
        stop.set()
        thread.join(5)
    stats = manager.get_stats()
    total = stats["total"]
    # Every message was either normalized or rejected; the router saw every update.
    assert total["updates_received"] == total["updates_normalized"] + total["data_errors"]
    assert manager.router.published == total["updates_normalized"]
    assert consumed[0] + queue.dropped + len(queue) == total["updates_normalized"]
    assert total["updates_normalized"] > 100 * SOAK_S  # really streaming
    assert max_queue <= 5000
    first = sorted(mb for _, mb in samples[: len(samples) // 3])
    last = sorted(mb for _, mb in samples[-len(samples) // 3:])
    growth = last[len(last) // 2] - first[len(first) // 2]
    print(f"soak {SOAK_S:.0f}s: {total['updates_normalized']:,} updates, "
          f"{total['orders_submitted']} orders, rss {first[0]:.1f} -> {last[-1]:.1f} MB "
          f"(median growth {growth:.2f} MB), max queue {max_queue}, dropped {queue.dropped}")
    assert growth < 8.0, samples
