"""Exponential backoff with full jitter and a cap, shared by every reconnect loop."""

from __future__ import annotations

import random
from collections.abc import Iterator

import attrs

__all__ = ["Backoff"]


@attrs.define
class Backoff:
    """Delays ``initial * factor**n`` capped at ``max_delay``, each scaled by a random factor
    in ``[1 - jitter, 1]`` so that many clients do not reconnect in lock-step.

    ``max_attempts`` of 0 means unbounded; callers bound the loop with their own deadline
    or stop event.
    """

    initial: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int = 0
    rng: random.Random = attrs.field(factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        base = min(self.initial * (self.factor ** self.attempt), self.max_delay)
        self.attempt += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def exhausted(self) -> bool:
        return self.max_attempts > 0 and self.attempt >= self.max_attempts

    def reset(self) -> None:
        self.attempt = 0

    def delays(self) -> Iterator[float]:
        """Yield delays until ``max_attempts`` is reached (forever when it is 0)."""
        while not self.exhausted():
            yield self.next_delay()
