"""DataFeedRouter: filtering, isolation of failing subscribers, queues and streams."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading

import pytest
from stockfish_core.models import DataType, MarketUpdate, PriceTick, Trade
from stockfish_core.router import DataFeedRouter, OverflowPolicy


def tick(symbol: str = "SPY", seq: int = 0) -> MarketUpdate:
    return MarketUpdate(DataType.PRICE_TICK, symbol, "t", PriceTick(symbol, bid=1.0), seq)


def trade(symbol: str = "SPY") -> MarketUpdate:
    return MarketUpdate(DataType.TRADE, symbol, "t", Trade(symbol, 1.0, 1.0))


def test_filters_by_type_and_symbol() -> None:
    router = DataFeedRouter()
    everything, ticks, spy_trades = [], [], []
    router.subscribe(everything.append)
    router.subscribe(ticks.append, data_types=DataType.PRICE_TICK)
    router.subscribe(spy_trades.append, data_types=[DataType.TRADE], symbols="SPY")
    for update in (tick("SPY"), tick("QQQ"), trade("SPY"), trade("QQQ")):
        router.publish(update)
    assert len(everything) == 4
    assert [u.symbol for u in ticks] == ["SPY", "QQQ"]
    assert [(u.data_type, u.symbol) for u in spy_trades] == [(DataType.TRADE, "SPY")]
    assert router.published == 4


def test_unsubscribe_and_resubscribe_refresh_routes() -> None:
    router = DataFeedRouter()
    got: list[MarketUpdate] = []
    sub = router.subscribe(got.append)
    router.publish(tick())
    sub.close()
    router.publish(tick())
    assert len(got) == 1
    late: list[MarketUpdate] = []
    router.subscribe(late.append, symbols=["SPY"])
    router.publish(tick())
    assert len(late) == 1 and len(got) == 1


def test_failing_subscriber_is_isolated_and_logged_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = DataFeedRouter()
    good: list[MarketUpdate] = []

    def bad(_: MarketUpdate) -> None:
        raise RuntimeError("boom")

    router.subscribe(bad)
    router.subscribe(good.append)
    with caplog.at_level(logging.ERROR, logger="stockfish_core.router"):
        for i in range(1000):
            router.publish(tick(seq=i))
    assert len(good) == 1000
    assert router.subscriber_errors == 1000
    assert len([r for r in caplog.records if "boom" in r.getMessage()]) == 1


def test_subscriber_may_unsubscribe_itself_during_delivery() -> None:
    router = DataFeedRouter()
    got: list[MarketUpdate] = []
    holder: dict = {}

    def once(update: MarketUpdate) -> None:
        got.append(update)
        holder["sub"].close()

    holder["sub"] = router.subscribe(once)
    router.publish(tick())
    router.publish(tick())
    assert len(got) == 1


def test_queue_drop_oldest_counts_drops() -> None:
    router = DataFeedRouter()
    queue = router.subscribe_queue(maxsize=10, policy="drop_oldest")
    for i in range(25):
        router.publish(tick(seq=i))
    assert queue.dropped == 15
    assert [u.sequence for u in queue.drain()] == list(range(15, 25))
    assert queue.get(timeout=0.01) is None


def test_queue_block_waits_for_room_then_drops() -> None:
    router = DataFeedRouter()
    queue = router.subscribe_queue(maxsize=2, policy=OverflowPolicy.BLOCK, block_timeout=0.05)
    for i in range(3):
        router.publish(tick(seq=i))
    assert queue.dropped == 1 and len(queue) == 2
    consumer_took = threading.Event()

    def consume() -> None:
        queue.get(timeout=5)
        consumer_took.set()

    # The publisher blocks until the consumer makes room: nothing is dropped.
    thread = threading.Thread(target=consume)
    thread.start()
    router.publish(tick(seq=3))
    thread.join(5)
    assert consumer_took.is_set()
    assert queue.dropped == 1
    assert [u.sequence for u in queue.drain()][-1] == 3


def test_queue_consumer_on_another_thread() -> None:
    router = DataFeedRouter()
    queue = router.subscribe_queue(maxsize=100_000)
    received: list[int] = []

    def consume() -> None:
        while len(received) < 5000 and (u := queue.get(timeout=5)) is not None:
            received.append(u.sequence)

    thread = threading.Thread(target=consume)
    thread.start()
    for i in range(5000):
        router.publish(tick(seq=i))
    thread.join(10)
    assert received == list(range(5000))


def test_async_stream_from_a_publishing_thread() -> None:
    router = DataFeedRouter()

    async def consume() -> list[int]:
        stream = router.stream(maxsize=1000, symbols="SPY")
        publisher = threading.Thread(
            target=lambda: [router.publish(tick("SPY" if i % 2 else "QQQ", i))
                            for i in range(200)])
        publisher.start()
        out = []
        async for update in stream:
            out.append(update.sequence)
            if len(out) == 100:
                break
        stream.close()
        publisher.join(5)
        return out

    assert asyncio.run(asyncio.wait_for(consume(), 10)) == list(range(1, 200, 2))


def test_async_stream_get_gives_none_when_nothing_comes_in_time() -> None:
    router = DataFeedRouter()

    async def consume() -> tuple[MarketUpdate | None, MarketUpdate | None]:
        stream = router.stream()
        empty = await stream.get(timeout=0.05)
        router.publish(tick(seq=7))
        got = await stream.get(timeout=5)
        stream.close()
        return empty, got

    empty, got = asyncio.run(asyncio.wait_for(consume(), 10))
    assert empty is None and got is not None and got.sequence == 7


def test_the_router_leaves_asyncio_to_those_who_stream() -> None:
    """asyncio loads ssl (about 5 MB): a process that never streams does not pay it."""
    code = ("import sys; from stockfish_core.router import DataFeedRouter; "
            "DataFeedRouter().subscribe_queue(); print('asyncio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"
