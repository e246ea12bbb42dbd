"""IB pacing, enforced on our side so that no violation (error 100 / 162 / 420) reaches TWS.

- :class:`WirePacer`: every API message, in order, at most ``rate`` in any one-second window
  and spread (bursts of a tenth of it, then evenly), at the one place all of them pass
  (the client's ``sendMsg``, on the event loop thread).
- :class:`HistoricalPacer`: at most ``max_requests`` historical requests per ``window``
  seconds and no identical request within ``identical_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from stockfish_core.errors import ConnectorError

__all__ = ["HistoricalPacer", "PacingError", "WirePacer"]


class PacingError(ConnectorError):
    """A request would break IB's pacing rules and could not wait long enough."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WirePacer:
    """Every message to TWS, ours and the client library's own (heartbeats, the initial sync,
    reconciliation requests), in one FIFO: at most ``rate`` in any one-second window, and
    spread: after a pause ``burst`` may go at once, then one every ``1 / rate`` seconds (a
    token bucket), counted when each is written to the socket.

    TWS counts messages when they arrive, 50 per client per second, and drops the excess
    with error 100. Sending at most ``rate`` (default 40) per second leaves headroom for
    messages that a slow link or a busy TWS bunches together on the way. Spreading them
    evenly keeps a second's messages from going out in its first few hundred
    milliseconds, where the next second's would follow them as soon as the window allows:
    a little jitter on the way and TWS would count both seconds' messages in one of its
    windows. ``burst`` defaults to a tenth of ``rate``: a burst bigger than that, freed
    all at once when a full window rolls over, is just such a pair.

    :meth:`install` hooks the pacer into an ib_insync / ib_async ``Client`` (whose own
    throttle it turns off): ``Client.sendMsg`` is where every outgoing message passes, on
    the event loop thread. Callers on other threads apply back-pressure with
    :meth:`wait_for_room` before handing work to the loop.
    """

    def __init__(self, rate: float, burst: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(1, int(rate))
        self.burst = burst if burst > 0 else max(1, math.ceil(self.rate / 10))
        self._clock = clock
        self._second: collections.deque[float] = collections.deque()
        self._tokens = float(self.burst)  # the bucket: one token per message
        self._tokens_at = clock()
        self._queue: collections.deque[tuple[Callable[[str], Any], str]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._drained = threading.Condition()
        self._urgent = 0  # >0: messages submitted now go to the front of the queue
        self.sent = 0  # messages written to the socket
        self.delayed = 0  # messages that waited for the window
        self.discarded = 0  # messages still queued when their session ended
        self.backpressure_waits = 0  # calls on other threads that waited for the backlog
        self.peak_backlog = 0
        self.peak_per_second = 0

    @property
    def backlog(self) -> int:
        """Messages queued, not yet written."""
        return len(self._queue)

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until one more message may be written (0: at once)."""
        second = self._second
        while second and now - second[0] >= 1.0:
            second.popleft()
        if now > self._tokens_at:
            self._tokens = min(float(self.burst),
                               self._tokens + (now - self._tokens_at) * self.rate)
            self._tokens_at = now
        wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
        if len(second) >= self.rate:
            wait = max(wait, second[len(second) - self.rate] + 1.0 - now)
        return max(wait, 0.0)

    def install(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Route every message ``client`` sends through this pacer (call on ``loop``'s
        thread, before the client connects). Messages still queued for an earlier client
        are discarded: the session they were meant for is gone."""
        self.discard()
        send = client.sendMsg
        client.MaxRequests = 0  # the library's own throttle lets bursts out at once

        def paced(msg: str | None) -> None:
            if msg:
                self.submit(send, msg)

        client.sendMsg = paced
        self._loop = loop

    @contextlib.contextmanager
    def urgent(self) -> Iterator[float]:
        """Messages sent inside the block go ahead of the queue (a heartbeat must not wait
        behind a burst of orders); still within the windows. Yields the seconds they may
        wait for the windows, to add to an answer's deadline (loop thread)."""
        self._urgent += 1
        try:
            yield self.delay(self._clock())
        finally:
            self._urgent -= 1

    def submit(self, send: Callable[[str], Any], msg: str) -> None:
        """Write ``msg`` with ``send`` now if the windows allow, else queue it (loop thread)."""
        if not self._queue and self.delay(self._clock()) == 0.0:
            self._write(send, msg)
            return
        if self._urgent:
            self._queue.appendleft((send, msg))
        else:
            self._queue.append((send, msg))
        self.delayed += 1
        self.peak_backlog = max(self.peak_backlog, len(self._queue))
        if self._timer is None:
            self._flush()

    def _write(self, send: Callable[[str], Any], msg: str) -> None:
        now = self._clock()
        self.delay(now)  # brings the bucket up to now
        self._second.append(now)
        self._tokens -= 1.0
        self.sent += 1
        self.peak_per_second = max(self.peak_per_second, len(self._second))
        send(msg)

    def _flush(self) -> None:
        self._timer = None
        queue = self._queue
        while queue:
            wait = self.delay(self._clock())
            if wait > 0.0:
                loop = self._loop
                if loop is not None and not loop.is_closed():
                    self._timer = loop.call_later(wait, self._flush)
                break
            send, msg = queue.popleft()
            self._write(send, msg)
        with self._drained:
            self._drained.notify_all()

    def discard(self) -> int:
        """Drop what is queued (the session ended); returns how many were dropped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        dropped = len(self._queue)
        self._queue.clear()
        self.discarded += dropped
        with self._drained:
            self._drained.notify_all()
        return dropped

    def wait_for_room(self, timeout: float, closing: Callable[[], bool]) -> None:
        """Back-pressure for callers off the loop: wait while ``burst`` or more messages are
        queued. Raises PacingError after ``timeout`` seconds, or when ``closing()``."""
        if len(self._queue) < self.burst:
            return
        self.backpressure_waits += 1
        deadline = self._clock() + timeout
        with self._drained:
            while len(self._queue) >= self.burst:
                if closing():
                    raise PacingError("connector is closing", 0.0)
                left = deadline - self._clock()
                if left <= 0:
                    raise PacingError(f"API message pacing: {self.rate}/s reached, "
                                      f"{len(self._queue)} messages queued",
                                      len(self._queue) / self.rate)
                # Woken by each flush; the bound only re-checks ``closing``.
                self._drained.wait(min(left, 0.1))


class HistoricalPacer:
    """IB's historical-data limits, as a check-and-reserve before each request: at most
    ``max_requests`` in any ``window`` seconds (a BID_ASK request counts twice), no
    identical request within ``identical_interval`` seconds, and at most
    ``same_contract_max`` requests for one contract and tick type within
    ``same_contract_window`` seconds (IB: "six or more ... within two seconds").

    TWS times requests when they arrive; a request reserved here can wait in the message
    pacer, and the link can bunch two together. Each window is kept ``margin`` seconds
    longer than IB's, so that a gap that is exact here is not short there."""

    def __init__(self, max_requests: int = 60, window: float = 600.0,
                 identical_interval: float = 15.0, clock: object = time.monotonic, *,
                 same_contract_max: int = 5, same_contract_window: float = 2.0,
                 margin: float = 0.5) -> None:
        self.max_requests = max_requests
        self.window = window + margin
        self.identical_interval = identical_interval + margin if identical_interval else 0.0
        self.same_contract_max = same_contract_max
        self.same_contract_window = same_contract_window + margin
        self._times: collections.deque[float] = collections.deque()
        self._last: dict[Hashable, float] = {}
        self._by_contract: dict[Hashable, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def check(self, key: Hashable, contract: Hashable = None, weight: int = 1) -> float:
        """Seconds until request ``key`` (for ``contract``: the contract and tick type) is
        allowed (0 = now); reserves it, ``weight`` times, when 0."""
        with self._lock:
            now = self._now()
            times = self._times
            while times and now - times[0] >= self.window:
                times.popleft()
            wait = 0.0
            if len(times) + weight > self.max_requests:
                wait = times[len(times) + weight - 1 - self.max_requests] + self.window - now
            last = self._last.get(key)
            if last is not None and now - last < self.identical_interval:
                wait = max(wait, last + self.identical_interval - now)
            recent = self._by_contract.get(contract)
            if recent is not None:
                while recent and now - recent[0] >= self.same_contract_window:
                    recent.popleft()
                if len(recent) >= self.same_contract_max:
                    wait = max(wait, recent[len(recent) - self.same_contract_max]
                               + self.same_contract_window - now)
            if wait > 0:
                return wait
            times.extend([now] * weight)
            self._last[key] = now
            if contract is not None:
                self._by_contract.setdefault(contract, collections.deque()).append(now)
            if len(self._last) > 4096:
                cutoff = now - max(self.identical_interval, self.same_contract_window)
                self._last = {k: t for k, t in self._last.items() if t > cutoff}
                self._by_contract = {k: q for k, q in self._by_contract.items()
                                     if q and q[-1] > cutoff}
            return 0.0

    def identical_recently(self, key: Hashable) -> bool:
        with self._lock:
            last = self._last.get(key)
            return last is not None and self._now() - last < self.identical_interval
