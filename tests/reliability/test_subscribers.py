"""A raising or slow market-data subscriber never stalls or kills the feed."""

from __future__ import annotations

import threading

from stockfish_core.models import MarketUpdate, now_ns
from stockfish_core.router import DataFeedRouter, OverflowPolicy
from stockfish_core.sim import SimConnector
from stockfish_core.testing import Recorder


def test_raising_and_stuck_consumers_do_not_stall_the_feed() -> None:
    router = DataFeedRouter()
    connector = SimConnector(router=router, venue=f"subs-{now_ns()}", tick_interval=0.002)
    recorder = Recorder(connector, router)

    def raises(_: MarketUpdate) -> None:
        raise ValueError("consumer bug")

    router.subscribe(raises)
    never_read = router.subscribe_queue(maxsize=50, policy=OverflowPolicy.DROP_OLDEST)
    blocked = router.subscribe_queue(maxsize=50, policy=OverflowPolicy.BLOCK, block_timeout=0.001)
    slow_done = threading.Event()
    slow_seen: list[int] = []
    slow_queue = router.subscribe_queue(maxsize=100)

    def slow_consumer() -> None:  # a consumer on its own thread, slower than the feed
        while not slow_done.is_set():
            update = slow_queue.get(timeout=0.5)
            if update is not None:
                slow_seen.append(update.sequence)
                slow_done.wait(0.01)  # the consumer's own processing time

    consumer = threading.Thread(target=slow_consumer)
    consumer.start()
    try:
        assert connector.connect()
        for symbol in ("AAA", "BBB", "CCC", "DDD"):
            connector.subscribe_price(symbol)
            connector.subscribe_orderbook(symbol, 5)
        assert recorder.wait_updates(2000, 30), "the feed stalled"
    finally:
        slow_done.set()
        consumer.join(5)
        connector.close()
    stats = connector.get_stats()
    # The last update may still be in flight on the venue thread: compare with slack of one.
    assert router.subscriber_errors >= 1999
    assert len(never_read) == 50 and never_read.dropped >= 1949
    assert len(blocked) == 50 and blocked.dropped >= 1949
    assert slow_queue.dropped > 0 and len(slow_seen) > 0
    assert slow_seen == sorted(slow_seen), "a bounded queue must keep order"
    assert stats["updates_received"] == stats["updates_normalized"] + stats["data_errors"]
