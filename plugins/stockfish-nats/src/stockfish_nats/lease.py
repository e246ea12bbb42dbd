"""The lease on one venue session, in a JetStream key-value bucket.

The bucket's TTL (``max_age``) is the lease's: an entry not rewritten for ``ttl`` seconds
is removed by the server, and only then can ``create`` (write if absent) succeed for
someone else. The holder renews with ``update(last=revision)``: a revision-checked write
that fails once anyone else has written the key. So at most one process holds a lease at
a time, and the server decides who.

Fencing: the holder acts on the session only while :meth:`SessionLease.fence` returns its
epoch (the revision it acquired at). That is true from a confirmed write until
``sent + ttl - guard``, where ``sent`` is when that write was *sent*: the server stored it
at or after ``sent``, so it cannot expire, and no one else can hold the lease, before
``sent + ttl``. The holder stops using the session (logs out) at the fence's end, ``guard``
seconds before anyone else can log on, whether or not the bus still answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats.js.errors
import orjson

__all__ = ["SessionLease"]

log = logging.getLogger(__name__)


class SessionLease:
    """The lease on ``key`` for ``holder`` (coroutines run on the bus loop; :meth:`fence`
    and :attr:`held` from any thread)."""

    def __init__(self, kv: Any, key: str, holder: str, ttl: float, guard: float) -> None:
        self.kv = kv
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self.guard = guard
        self.epoch = 0  # the revision at acquisition (0: not held)
        self.revision = 0  # the last confirmed revision
        self.acquisitions = 0
        self.renewals = 0
        self.losses = 0
        self.last_error: str | None = None
        self._valid_until = 0.0

    @property
    def held(self) -> bool:
        return self.epoch != 0 and time.monotonic() < self._valid_until

    def fence(self) -> int | None:
        """The epoch while the lease is held for sure, else None: check it right before
        every action on the session."""
        epoch = self.epoch
        return epoch if epoch and time.monotonic() < self._valid_until else None

    @property
    def valid_for(self) -> float:
        """Seconds the fence stays up without another renewal (0 when not held)."""
        return max(self._valid_until - time.monotonic(), 0.0) if self.epoch else 0.0

    def _value(self) -> bytes:
        return orjson.dumps({"holder": self.holder, "ts": time.time()})

    async def try_acquire(self, timeout: float) -> bool:
        """Take the lease if nobody holds it; True when taken."""
        sent = time.monotonic()
        try:
            revision = await asyncio.wait_for(self.kv.create(self.key, self._value()),
                                              timeout)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except Exception as exc:  # the bus is down or slow: not taken
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self.epoch = self.revision = int(revision)
        self._valid_until = sent + self.ttl - self.guard
        self.acquisitions += 1
        log.info("lease %s taken by %s (epoch %d)", self.key, self.holder, self.epoch)
        return True

    async def renew(self, timeout: float) -> bool:
        """Rewrite the lease, checked against our last revision. False (and the lease
        dropped) when someone else wrote it; a bus that does not answer leaves the fence
        to run out by itself."""
        if not self.epoch:
            return False
        sent = time.monotonic()
        try:
            revision = await asyncio.wait_for(
                self.kv.update(self.key, self._value(), last=self.revision), timeout)
        except nats.js.errors.KeyWrongLastSequenceError:
            self.drop("another holder wrote the lease, or it expired")
            return False
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return self.held
        if not self.epoch:  # dropped meanwhile (the fence ran out): stay out
            return False
        self.revision = int(revision)
        self._valid_until = sent + self.ttl - self.guard
        self.renewals += 1
        return True

    def drop(self, reason: str) -> None:
        """Forget the lease (the session must be given up)."""
        if self.epoch:
            self.losses += 1
            log.warning("lease %s of %s lost (epoch %d): %s", self.key, self.holder,
                        self.epoch, reason)
        self.epoch = 0
        self._valid_until = 0.0

    async def release(self, timeout: float) -> None:
        """Give the lease up now (a clean stop): a standby takes over at once."""
        revision, self.epoch = self.revision, 0
        self._valid_until = 0.0
        if not revision:
            return
        try:
            await asyncio.wait_for(self.kv.delete(self.key, last=revision), timeout)
        except Exception as exc:  # it expires by itself within the TTL
            log.info("lease %s: release failed (%s); it expires by itself", self.key, exc)

    def stats(self) -> dict[str, Any]:
        return {"key": self.key, "held": self.held, "epoch": self.epoch,
                "revision": self.revision, "valid_for_s": round(self.valid_for, 3),
                "acquisitions": self.acquisitions, "renewals": self.renewals,
                "losses": self.losses, "last_error": self.last_error}
