"""Order events and statuses onto the JetStream stream, in the order they happened.

Connector threads hand messages to :meth:`EventLog.append` (no waiting); one coroutine on
the bus loop publishes them one after the other and waits for each acknowledgement, so the
stream holds them in order. While the bus is down they wait (and are retried), never
dropped: they are what a standby rebuilds the orders from.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

__all__ = ["EventLog"]

log = logging.getLogger(__name__)


class EventLog:
    def __init__(self, bus: Any, retry_delay: float = 0.2) -> None:
        self.bus = bus
        self.retry_delay = retry_delay
        self.published = 0
        self.retries = 0
        self._queue: collections.deque[tuple[str, bytes, dict[str, str] | None]] = \
            collections.deque()
        self._wake: asyncio.Event | None = None
        self._done: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def begin() -> None:
            self._wake = asyncio.Event()
            self._done = asyncio.Condition()
            self._task = asyncio.get_running_loop().create_task(self._run())

        self.bus.run(begin(), 5.0)

    def append(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Queue one message (any thread)."""
        self._queue.append((subject, data, headers))
        wake = self._wake
        if wake is not None:
            self.bus.call_soon(wake.set)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        assert self._wake is not None and self._done is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                subject, data, headers = self._queue[0]
                try:
                    await self.bus.js.publish(subject, data, headers=headers, timeout=2.0)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the bus is down: keep it, try again
                    self.retries += 1
                    if self.retries == 1 or self.retries % 100 == 0:
                        log.warning("events stream: publish failed (%s); retrying",
                                    type(exc).__name__)
                    await asyncio.sleep(self.retry_delay)
                    continue
                self._queue.popleft()
                self.published += 1
                async with self._done:
                    self._done.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every message queued so far is on the stream (False on timeout)."""
        async def wait() -> None:
            assert self._done is not None
            target = self.published + len(self._queue)  # on the loop: nothing in between
            async with self._done:
                await asyncio.wait_for(self._done.wait_for(lambda: self.published >= target),
                                       timeout)

        try:
            self.bus.run(wait(), timeout + 0.5)
        except Exception:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "queued": len(self._queue),
                "retries": self.retries}
