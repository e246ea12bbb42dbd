"""IB pacing, enforced on our side so that no violation (error 100 / 162 / 420) reaches TWS.

- :class:`MessagePacer`: at most ``rate`` API messages in any one-second window. Callers on
  user threads wait (bounded, interruptible); the event loop never waits: it records what
  it sends with :meth:`MessagePacer.record`.
- :class:`HistoricalPacer`: at most ``max_requests`` historical requests per ``window``
  seconds and no identical request within ``identical_interval`` seconds.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Hashable

from stockfish_core.errors import ConnectorError

__all__ = ["HistoricalPacer", "MessagePacer", "PacingError"]


class PacingError(ConnectorError):
    """A request would break IB's pacing rules and could not wait long enough."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MessagePacer:
    """Sliding window (one second) of sent messages.

    Keep ``rate`` a little under TWS's limit: TWS counts messages when they arrive, and two
    sends a second apart can land a little closer together.
    """

    def __init__(self, rate: float, stop_wait: Callable[[float], bool] | None = None,
                 clock: object = time.monotonic, window: float = 1.0) -> None:
        self.limit = max(1, int(rate))
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        # Waits up to the given seconds; True when the owner is closing.
        self._stop_wait = stop_wait or threading.Event().wait
        self._clock = clock
        self.waited = 0  # how many acquisitions had to wait
        self.sent = 0

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _trim(self, now: float) -> None:
        times = self._times
        while times and now - times[0] >= self.window:
            times.popleft()

    def delay_for(self, n: int = 1) -> float:
        """Seconds until ``n`` more messages fit in the window (0 = now)."""
        with self._lock:
            now = self._now()
            self._trim(now)
            excess = len(self._times) + n - self.limit
            if excess <= 0:
                return 0.0
            return max(0.0, self._times[excess - 1] + self.window - now)

    def acquire(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``n`` messages may go out, then count them; raise PacingError if
        that would take longer than ``timeout``."""
        n = min(n, self.limit)
        deadline = self._now() + timeout
        waited = False
        while True:
            with self._lock:
                now = self._now()
                self._trim(now)
                excess = len(self._times) + n - self.limit
                if excess <= 0:
                    self._times.extend([now] * n)
                    self.sent += n
                    if waited:
                        self.waited += 1
                    return
                delay = self._times[excess - 1] + self.window - now
            if now + delay > deadline:
                raise PacingError(f"API message pacing: {self.limit}/s reached", delay)
            waited = True
            if self._stop_wait(max(delay, 0.001)):
                raise PacingError("connector is closing", 0.0)

    def record(self, n: int = 1) -> None:
        """Count messages sent without waiting (the event loop's own, e.g. heartbeats)."""
        with self._lock:
            now = self._now()
            self._trim(now)
            self._times.extend([now] * n)
            self.sent += n


class HistoricalPacer:
    """IB's historical-data limits, as a check-and-reserve before each request."""

    def __init__(self, max_requests: int = 60, window: float = 600.0,
                 identical_interval: float = 15.0, clock: object = time.monotonic) -> None:
        self.max_requests = max_requests
        self.window = window
        self.identical_interval = identical_interval
        self._times: collections.deque[float] = collections.deque()
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def check(self, key: Hashable) -> float:
        """Seconds until a request ``key`` is allowed (0 = now); reserves it when 0."""
        with self._lock:
            now = self._now()
            times = self._times
            while times and now - times[0] >= self.window:
                times.popleft()
            wait = 0.0
            if len(times) >= self.max_requests:
                wait = times[len(times) - self.max_requests] + self.window - now
            last = self._last.get(key)
            if last is not None and now - last < self.identical_interval:
                wait = max(wait, last + self.identical_interval - now)
            if wait > 0:
                return wait
            times.append(now)
            self._last[key] = now
            if len(self._last) > 4096:
                cutoff = now - self.identical_interval
                self._last = {k: t for k, t in self._last.items() if t > cutoff}
            return 0.0

    def identical_recently(self, key: Hashable) -> bool:
        with self._lock:
            last = self._last.get(key)
            return last is not None and self._now() - last < self.identical_interval
