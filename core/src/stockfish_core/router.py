"""DataFeedRouter: fan-out of normalized MarketUpdates to subscribers.

``publish`` runs on the connector's thread and calls matching subscribers directly. The
route table for a (data type, symbol) pair is computed once and cached; subscribing or
unsubscribing swaps in a fresh cache, so the hot path takes no lock and does no logging.
A subscriber that raises is counted and isolated; delivery to the others continues.
For consumers on other threads, :meth:`subscribe_queue` gives a bounded queue and
:meth:`stream` an asyncio async-iterator.
"""

from __future__ import annotations

import collections
import enum
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from stockfish_core.models import DataType, MarketUpdate

if TYPE_CHECKING:
    import asyncio

__all__ = ["BoundedQueue", "DataFeedRouter", "OverflowPolicy", "Subscription", "UpdateStream"]

log = logging.getLogger(__name__)
Callback = Callable[[MarketUpdate], Any]
T = TypeVar("T")
_ERROR_LOG_WINDOW_S = 10.0


class OverflowPolicy(str, enum.Enum):
    DROP_OLDEST = "drop_oldest"
    BLOCK = "block"


class Subscription:
    """Handle returned by :meth:`DataFeedRouter.subscribe`; ``close()`` unsubscribes."""

    __slots__ = (
        "_last_log",
        "_router",
        "_suppressed",
        "callback",
        "data_types",
        "errors",
        "id",
        "symbols",
    )

    def __init__(self, router: DataFeedRouter, sub_id: int, callback: Callback,
                 data_types: frozenset[DataType] | None, symbols: frozenset[str] | None) -> None:
        self.id = sub_id
        self.callback = callback
        self.data_types = data_types
        self.symbols = symbols
        self.errors = 0
        self._router = router
        self._last_log = 0.0
        self._suppressed = 0

    def matches(self, data_type: DataType, symbol: str) -> bool:
        return (self.data_types is None or data_type in self.data_types) and (
            self.symbols is None or symbol in self.symbols)

    def close(self) -> None:
        self._router.unsubscribe(self)

    unsubscribe = close

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DataFeedRouter:
    """Routes every MarketUpdate published by connectors to matching subscribers."""

    def __init__(self) -> None:
        self._subs: dict[int, Subscription] = {}
        self._routes: dict[str, dict[DataType, tuple[Callback, ...]]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.published = 0
        self.subscriber_errors = 0
        self.dropped = 0  # updates its queues and streams dropped (full, per their policy)

    # -- subscription management (any thread) -----------------------------------------
    def subscribe(
        self, callback: Callback, data_types: Iterable[DataType] | DataType | None = None,
        symbols: Iterable[str] | str | None = None,
    ) -> Subscription:
        """Call ``callback(update)`` for matching updates on the publishing thread."""
        if isinstance(data_types, DataType):
            data_types = (data_types,)
        if isinstance(symbols, str):
            symbols = (symbols,)
        sub = Subscription(
            self, next(self._ids), callback,
            frozenset(DataType(t) for t in data_types) if data_types is not None else None,
            frozenset(symbols) if symbols is not None else None,
        )
        with self._lock:
            self._subs[sub.id] = sub
            self._routes = {}
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if self._subs.pop(sub.id, None) is not None:
                self._routes = {}

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    # -- hot path ---------------------------------------------------------------------
    def publish(self, update: MarketUpdate) -> None:
        """Deliver ``update`` to every matching subscriber (connector thread)."""
        self.published += 1
        # Keyed by symbol, then by the type itself (a str enum: hashed as its value, and
        # found by identity). A pair not routed yet is the rare KeyError.
        try:
            callbacks = self._routes[update.symbol][update.data_type]
        except KeyError:
            callbacks = self._build_route(update.data_type, update.symbol)
        for callback in callbacks:
            try:
                callback(update)
            except Exception as exc:
                self._subscriber_failed(callback, exc)

    def _build_route(self, data_type: DataType, symbol: str) -> tuple[Callback, ...]:
        with self._lock:
            callbacks = tuple(s.callback for s in self._subs.values()
                              if s.matches(data_type, symbol))
            self._routes.setdefault(symbol, {})[data_type] = callbacks
        return callbacks

    def _subscriber_failed(self, callback: Callback, exc: Exception) -> None:
        self.subscriber_errors += 1
        sub = next((s for s in list(self._subs.values()) if s.callback is callback), None)
        if sub is None:
            return
        sub.errors += 1
        now = time.monotonic()
        if now - sub._last_log >= _ERROR_LOG_WINDOW_S:
            log.error("subscriber %r raised %s: %s (%d similar errors suppressed)",
                      getattr(callback, "__qualname__", callback),
                      type(exc).__name__, exc, sub._suppressed)
            sub._last_log = now
            sub._suppressed = 0
        else:
            sub._suppressed += 1

    # -- consumers on other threads ---------------------------------------------------
    def subscribe_queue(
        self, maxsize: int = 10_000, policy: OverflowPolicy | str = OverflowPolicy.DROP_OLDEST,
        data_types: Iterable[DataType] | DataType | None = None,
        symbols: Iterable[str] | str | None = None, block_timeout: float = 1.0,
    ) -> BoundedQueue:
        """A bounded queue fed by the router, for a consumer thread.

        ``drop_oldest`` discards the oldest update when full; ``block`` makes the publishing
        thread wait up to ``block_timeout`` seconds for room, then drops the new update.
        Either way ``dropped`` counts what was lost; the feed is never stalled for longer.
        """
        queue = BoundedQueue(maxsize, OverflowPolicy(policy), block_timeout,
                             on_drop=self._count_drop)
        queue.subscription = self.subscribe(queue.put, data_types, symbols)
        return queue

    def stream(
        self, loop: asyncio.AbstractEventLoop | None = None, maxsize: int = 10_000,
        data_types: Iterable[DataType] | DataType | None = None,
        symbols: Iterable[str] | str | None = None,
    ) -> UpdateStream[MarketUpdate]:
        """An async iterator of updates for asyncio code (call from the consuming loop)."""
        # asyncio (and the ssl it loads, ~5 MB) is imported by those who stream.
        import asyncio

        stream: UpdateStream[MarketUpdate] = UpdateStream(
            loop or asyncio.get_running_loop(), maxsize, on_drop=self._count_drop)
        stream.subscription = self.subscribe(stream.put_threadsafe, data_types, symbols)
        return stream

    def _count_drop(self) -> None:
        self.dropped += 1

    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            subs = list(self._subs.values())
        return {
            "published": self.published,
            "subscribers": len(subs),
            "subscriber_errors": self.subscriber_errors,
            "dropped": self.dropped,
        }


class BoundedQueue:
    """Thread-safe bounded FIFO of updates with a drop counter."""

    def __init__(self, maxsize: int, policy: OverflowPolicy, block_timeout: float,
                 on_drop: Callable[[], None] | None = None) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be > 0")
        self.maxsize = maxsize
        self.policy = policy
        self.block_timeout = block_timeout
        self.dropped = 0
        self.on_drop = on_drop
        self.subscription: Subscription | None = None
        self._items: collections.deque[MarketUpdate] = collections.deque()
        self._cond = threading.Condition()

    def put(self, update: MarketUpdate) -> None:
        with self._cond:
            if len(self._items) >= self.maxsize:
                if self.policy is OverflowPolicy.DROP_OLDEST:
                    self._items.popleft()
                    self._drop()
                elif not self._cond.wait_for(lambda: len(self._items) < self.maxsize,
                                             self.block_timeout):
                    self._drop()
                    return
            self._items.append(update)
            self._cond.notify_all()

    def _drop(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()

    def get(self, timeout: float | None = None) -> MarketUpdate | None:
        """Next update, or ``None`` if none arrives within ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def drain(self, limit: int | None = None) -> list[MarketUpdate]:
        """Take up to ``limit`` queued updates without waiting."""
        with self._cond:
            n = len(self._items) if limit is None else min(limit, len(self._items))
            out = [self._items.popleft() for _ in range(n)]
            self._cond.notify_all()
            return out

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[MarketUpdate]:
        """Iterate queued updates until the queue stays empty for a second."""
        while (item := self.get(timeout=1.0)) is not None:
            yield item

    def close(self) -> None:
        if self.subscription is not None:
            self.subscription.close()


class UpdateStream(Generic[T]):
    """Async iterator of items (market updates; order events for the asyncio manager)
    put from any thread; overflow drops the oldest and counts it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int,
                 on_drop: Callable[[], None] | None = None) -> None:
        import asyncio

        self.loop = loop
        self.maxsize = maxsize
        self.dropped = 0
        self.on_drop = on_drop
        self.subscription: Subscription | None = None
        self._items: collections.deque[T] = collections.deque()
        self._event = asyncio.Event()
        self._closed = False

    def put_threadsafe(self, update: T) -> None:
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
        self._items.append(update)
        if not self._event.is_set() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._event.set)

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._event.clear()
            if self._items:
                break
            await self._event.wait()
        return self._items.popleft()

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item, or None if none comes within ``timeout`` seconds."""
        import asyncio

        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except (asyncio.TimeoutError, StopAsyncIteration):
            return None

    def close(self) -> None:
        self._closed = True
        if self.subscription is not None:
            self.subscription.close()
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._event.set)
