"""The asyncio interface, beside the blocking one (as ib_insync / ib_async offer both).

``AsyncExchangeManager`` wraps an :class:`~stockfish_core.manager.ExchangeManager`. Every
call that may block (connecting, the journal write and the wire of an order, stopping) runs
on a worker thread, so the event loop it is awaited from keeps running: inside Jupyter, an
ib_insync program or any asyncio application. Waiting for an order's acknowledgement or its
end, market data and order events are awaitables and async iterators driven by the
connectors' own threads::

    async with AsyncExchangeManager.from_config("stockfish.yaml") as manager:
        order_id = await manager.send_order(Order("SPY", OrderSide.BUY, 10))  # acknowledged
        order = await manager.order_done(order_id, timeout=30)
        async for update in manager.stream(symbols=["SPY"], data_types=DataType.PRICE_TICK):
            ...

``AsyncExchangeManager(manager)`` gives the same interface over an existing blocking
manager (both can be used side by side).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderEvent, OrderStatus
from stockfish_core.router import UpdateStream

__all__ = ["AsyncExchangeManager", "OrderEventStream"]


def _acknowledged(order: Order) -> bool:
    """The venue answered (any status past PENDING), or the outcome is known to be
    unknown (the link failed mid-send: reconciliation will tell)."""
    return order.status is not OrderStatus.PENDING or order.unknown_outcome


class OrderEventStream(UpdateStream[OrderEvent]):
    """An async iterator of :class:`OrderEvent` s (every connector's, or one order's);
    overflow drops the oldest and counts it in ``dropped``."""

    def __init__(self, owner: AsyncExchangeManager, loop: asyncio.AbstractEventLoop,
                 maxsize: int, client_order_id: str | None) -> None:
        super().__init__(loop, maxsize)
        self._owner = owner
        self._only = client_order_id

    def _put(self, event: OrderEvent) -> None:  # any thread
        if self._only is None or event.client_order_id == self._only:
            self.put_threadsafe(event)

    def close(self) -> None:
        super().close()
        self._owner._streams.discard(self)


class AsyncExchangeManager:
    """asyncio face of an :class:`ExchangeManager` (see the module docstring)."""

    def __init__(self, manager: ExchangeManager) -> None:
        self.manager = manager
        self._streams: set[OrderEventStream] = set()
        self._waiters: dict[str, list[tuple[Callable[[Order], bool], asyncio.Future[None],
                                            Order]]] = {}
        self._lock = threading.Lock()
        manager.add_order_listener(self._on_event)

    @classmethod
    def from_config(cls, source: str | os.PathLike[str] | Mapping[str, Any],
                    env: Mapping[str, str] | None = None) -> AsyncExchangeManager:
        """Build the manager from a configuration (as ``ExchangeManager.from_config``)."""
        return cls(ExchangeManager.from_config(source, env))

    # ------------------------------------------------------------------ lifecycle
    async def start(self, timeout: float | None = None) -> bool:
        """Connect every connector (``start_all``) without blocking the loop."""
        return await asyncio.to_thread(self.manager.start_all, timeout)

    async def stop(self) -> list[str]:
        """``stop_all`` without blocking the loop; the connectors that did not stop."""
        return await asyncio.to_thread(self.manager.stop_all)

    async def close(self) -> None:
        """``close``: stop everything, close the journal, end every open stream."""
        for stream in list(self._streams):
            stream.close()
        self.manager.remove_order_listener(self._on_event)
        await asyncio.to_thread(self.manager.close)

    async def __aenter__(self) -> AsyncExchangeManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ subscriptions
    async def subscribe_price(self, symbols: str | Iterable[str],
                              connectors: str | Iterable[str] | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.manager.subscribe_price, symbols, connectors)

    async def subscribe_orderbook(self, symbols: str | Iterable[str], depth: int = 10,
                                  connectors: str | Iterable[str] | None = None
                                  ) -> dict[str, Any]:
        return await asyncio.to_thread(self.manager.subscribe_orderbook, symbols, depth,
                                       connectors)

    async def unsubscribe(self, symbols: str | Iterable[str],
                          connectors: str | Iterable[str] | None = None) -> None:
        await asyncio.to_thread(self.manager.unsubscribe, symbols, connectors)

    def stream(self, symbols: Iterable[str] | str | None = None,
               data_types: Iterable[DataType] | DataType | None = None,
               maxsize: int = 10_000, arbitrated: bool = True) -> UpdateStream:
        """Market data as an async iterator, on the running loop (one stream per symbol
        when arbitration is on, unless ``arbitrated=False``)."""
        router = self.manager.arbitrated_router if arbitrated else self.manager.router
        return router.stream(asyncio.get_running_loop(), maxsize, data_types, symbols)

    # ------------------------------------------------------------------ orders
    async def send_order(self, order: Order, connector_name: str | None = None, *,
                         acknowledged: bool = True, timeout: float | None = 30.0) -> str:
        """Send ``order``; with ``acknowledged`` (the default) return once the venue
        answered it (SUBMITTED, a fill, a rejection) or its outcome is known to be unknown.
        Raises what ``ExchangeManager.send_order`` raises; ``asyncio.TimeoutError`` if no
        answer comes within ``timeout`` (the order stays tracked and working)."""
        waiter = self._wait(order, _acknowledged) if acknowledged else None
        try:
            order_id = await asyncio.to_thread(self.manager.send_order, order, connector_name)
            if waiter is not None:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return order_id
        finally:
            if waiter is not None:
                self._forget(order.client_order_id, waiter)

    async def order_done(self, order_id: str, timeout: float | None = None) -> Order:
        """The order once it is terminal (filled, cancelled, rejected...) and settled."""
        order = self.manager.get_order(order_id)
        waiter = self._wait(order, lambda o: o.is_terminal and not o.unknown_outcome)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            self._forget(order.client_order_id, waiter)
        return order

    async def cancel_order(self, order_id: str) -> bool:
        return await asyncio.to_thread(self.manager.cancel_order, order_id)

    async def replace_order(self, order_id: str, *, quantity: float | None = None,
                            price: float | None = None) -> bool:
        return await asyncio.to_thread(self.manager.replace_order, order_id,
                                       quantity=quantity, price=price)

    def get_order_status(self, order_id: str) -> OrderStatus:
        """Answered from memory (or the journal for an order of an earlier run)."""
        return self.manager.get_order_status(order_id)

    def order_events(self, client_order_id: str | None = None,
                     maxsize: int = 10_000) -> OrderEventStream:
        """Order events (every connector's, or one order's) as an async iterator."""
        stream = OrderEventStream(self, asyncio.get_running_loop(), maxsize, client_order_id)
        self._streams.add(stream)
        return stream

    # ------------------------------------------------------------------ plumbing
    def _wait(self, order: Order, done: Callable[[Order], bool]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.setdefault(order.client_order_id, []).append((done, future, order))
        if done(order):  # already there (an event may have come before we listened)
            future.set_result(None)
        return future

    def _forget(self, client_order_id: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiting = self._waiters.get(client_order_id, [])
            waiting[:] = [w for w in waiting if w[1] is not future]
            if not waiting:
                self._waiters.pop(client_order_id, None)

    def _on_event(self, event: OrderEvent) -> None:  # a connector's thread
        for stream in list(self._streams):
            stream._put(event)
        with self._lock:
            waiting = list(self._waiters.get(event.client_order_id, ()))
        for done, future, order in waiting:
            if done(order):
                loop = future.get_loop()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
