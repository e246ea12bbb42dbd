"""The asyncio interface: the loop keeps running while orders go out and connectors connect,
send_order returns once the venue answered, order_done, market data and order events as
async iterators, inside a loop that is already busy with other work."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from stockfish_core.aio import AsyncExchangeManager
from stockfish_core.errors import OrderRejectedError
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType, now_ns
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.sim import SimConnector

T = 10.0


def _manager(latency: float = 0.0) -> ExchangeManager:
    manager = ExchangeManager("primary_backup", health_check_interval=1.0, stop_timeout=3.0)
    manager.add_connector(SimConnector(name="paper", venue=f"aio-{now_ns()}",
                                       tick_interval=0.005, latency=latency),
                          "paper", primary=True)
    return manager


async def _ticking(counter: list[int], stop: asyncio.Event) -> None:
    """Other work on the same loop: proves it is never blocked for long."""
    while not stop.is_set():
        counter.append(time.monotonic_ns())
        await asyncio.sleep(0.001)


def _longest_gap_ms(stamps: list[int]) -> float:
    return max((b - a for a, b in itertools.pairwise(stamps)), default=0) / 1e6


def test_send_order_returns_once_acknowledged_without_blocking_the_loop() -> None:
    async def main() -> dict[str, Any]:
        stamps: list[int] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticking(stamps, stop))
        manager = AsyncExchangeManager(_manager(latency=0.2))  # a slow venue
        async with manager:
            order = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5)
            t0 = time.monotonic()
            order_id = await manager.send_order(order)
            waited = time.monotonic() - t0
            status = order.status
            assert await manager.cancel_order(order_id)
            done = await manager.order_done(order_id, timeout=T)
        stop.set()
        await ticker
        return {"waited": waited, "status": status, "done": done.status,
                "gap_ms": _longest_gap_ms(stamps)}

    out = asyncio.run(main())
    assert out["status"] is OrderStatus.SUBMITTED  # not PENDING: the venue answered
    assert out["waited"] >= 0.2
    assert out["done"] is OrderStatus.CANCELLED
    # 0.2 s of venue latency and the whole connect/stop passed while the loop kept ticking.
    assert out["gap_ms"] < 150, out["gap_ms"]


def test_a_refused_order_raises_and_an_unknown_outcome_returns() -> None:
    async def main() -> tuple[Order, Order]:
        manager = AsyncExchangeManager(_manager())
        async with manager:
            refused = Order("SPY", OrderSide.BUY, 1, OrderType.STOP, stop_price=5.0)
            manager.manager.get_connector("paper").read_only = True
            with pytest.raises(OrderRejectedError, match="read-only"):
                await manager.send_order(refused)
            manager.manager.get_connector("paper").read_only = False
            rejected = Order("UNKNOWNSYM", OrderSide.BUY, 1)
            await manager.send_order(rejected)  # the venue's own rejection is an answer
        return refused, rejected

    refused, rejected = asyncio.run(main())
    assert refused.status is OrderStatus.REJECTED
    assert rejected.status is OrderStatus.REJECTED and rejected.reject_reason


def test_market_data_and_order_events_as_async_iterators() -> None:
    async def main() -> tuple[list[Any], list[str]]:
        manager = AsyncExchangeManager(_manager())
        async with manager:
            stream = manager.stream(symbols=["SPY"], data_types=DataType.PRICE_TICK)
            events = manager.order_events()
            await manager.subscribe_price(["SPY", "QQQ"])
            updates = []
            async for update in stream:
                updates.append(update)
                if len(updates) == 20:
                    break
            stream.close()
            order = Order("SPY", OrderSide.BUY, 2)
            await manager.send_order(order)
            await manager.order_done(order.client_order_id, timeout=T)
            kinds = []
            while (event := await events.get(timeout=1.0)) is not None:
                kinds.append(event.kind)
                if event.status is OrderStatus.FILLED:
                    break
        return updates, kinds

    updates, kinds = asyncio.run(main())
    assert {u.symbol for u in updates} == {"SPY"}
    assert all(u.data_type is DataType.PRICE_TICK for u in updates)
    assert kinds[0] == "submitted" and "fill" in kinds


def test_works_inside_a_loop_that_runs_other_libraries_callbacks() -> None:
    """An application's loop with its own callbacks scheduled from other threads (as
    ib_insync's is): both make progress."""
    async def main() -> tuple[int, OrderStatus]:
        loop = asyncio.get_running_loop()
        hits: list[int] = []
        stop = asyncio.Event()

        def foreign() -> None:  # a library thread posting into the loop
            for i in range(200):
                loop.call_soon_threadsafe(hits.append, i)
                time.sleep(0.001)
            loop.call_soon_threadsafe(stop.set)

        thread = asyncio.to_thread(foreign)
        async with AsyncExchangeManager(_manager()) as manager:
            order = Order("SPY", OrderSide.BUY, 1)
            await manager.send_order(order)
            done = await manager.order_done(order.client_order_id, timeout=T)
            await thread
            await stop.wait()
        return len(hits), done.status

    hits, status = asyncio.run(main())
    assert hits == 200 and status is OrderStatus.FILLED


def test_an_existing_blocking_manager_gets_an_async_face() -> None:
    blocking = _manager()
    assert blocking.start_all()
    try:
        async def main() -> OrderStatus:
            aio = AsyncExchangeManager(blocking)
            order = Order("SPY", OrderSide.BUY, 1)
            await aio.send_order(order)
            return (await aio.order_done(order.client_order_id, timeout=T)).status

        assert asyncio.run(main()) is OrderStatus.FILLED
        order = Order("SPY", OrderSide.BUY, 1)
        blocking.send_order(order)  # the blocking API still works beside it
        assert blocking.wait_orders(lambda: order.is_terminal, T)
    finally:
        blocking.close()
