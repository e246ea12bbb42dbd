"""Message pacing as TWS applies it: every incoming message counted when it arrives.

TWS allows a client 50 messages in any one second. It counts each message on arrival, the
ones it then refuses included (its error 100 reports ``rec=`` counts far above the limit),
so a client that keeps sending keeps being refused.
"""

from __future__ import annotations

import collections

__all__ = ["ArrivalWindow"]


class ArrivalWindow:
    """Arrival times of one client's messages: the count in the last second and in the last
    100 ms, and the peaks of both."""

    def __init__(self) -> None:
        self._second: collections.deque[float] = collections.deque()
        self._tenth: collections.deque[float] = collections.deque()
        self.peak_per_second = 0
        self.peak_per_100ms = 0
        self.refused = 0

    @property
    def in_last_second(self) -> int:
        return len(self._second)

    def arrive(self, now: float) -> int:
        """Count one message arriving at ``now``; return the count in the last second."""
        second, tenth = self._second, self._tenth
        second.append(now)
        tenth.append(now)
        while now - second[0] >= 1.0:
            second.popleft()
        while now - tenth[0] >= 0.1:
            tenth.popleft()
        in_second, in_tenth = len(second), len(tenth)
        self.peak_per_second = max(self.peak_per_second, in_second)
        self.peak_per_100ms = max(self.peak_per_100ms, in_tenth)
        return in_second
