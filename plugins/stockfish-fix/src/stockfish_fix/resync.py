"""Re-request the snapshot of each stale book, with backoff, until one is accepted.

The QuickFIX thread finds a book inconsistent and hands its symbol here (:meth:`add`, no
waiting, no sending); a worker thread of this scheduler sends the request at once, then
again after each backoff delay (doubling, with jitter, capped) while no snapshot has been
accepted (:meth:`done`). The worker runs only while something is pending and ends by
itself; every wait is bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from stockfish_core.backoff import Backoff

__all__ = ["ResyncScheduler"]

log = logging.getLogger(__name__)

_IDLE_CHECK = 0.5  # s between checks for a close while waiting for the next due request


class ResyncScheduler:
    """``request(symbol) -> bool`` sends one snapshot request (False: not sent now)."""

    def __init__(self, name: str, request: Callable[[str], bool], *, initial: float,
                 max_delay: float, closing: Callable[[], bool]) -> None:
        self.name = name
        self._request = request
        self._initial = initial
        self._max_delay = max_delay
        self._closing = closing
        self._cond = threading.Condition(threading.Lock())
        self._pending: dict[str, tuple[float, Backoff]] = {}  # symbol -> (due, backoff)
        self._thread: threading.Thread | None = None
        self.requests_sent = 0

    def add(self, symbol: str) -> None:
        """Start re-requesting ``symbol`` now (no-op if already pending)."""
        with self._cond:
            if symbol in self._pending:
                return
            backoff = Backoff(initial=self._initial, max_delay=self._max_delay)
            self._pending[symbol] = (time.monotonic(), backoff)
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"{self.name}-md-resync")
                self._thread.start()

    def done(self, symbol: str) -> None:
        """A snapshot of ``symbol`` was accepted (or the subscription went away)."""
        with self._cond:
            self._pending.pop(symbol, None)

    def clear(self) -> None:
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()

    @property
    def pending(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._pending or self._closing():
                        self._thread = None
                        return
                    now = time.monotonic()
                    due = [s for s, (at, _) in self._pending.items() if at <= now]
                    if not due:
                        wake = min(at for at, _ in self._pending.values())
                        self._cond.wait(min(wake - now, _IDLE_CHECK))
                        continue
                    for symbol in due:
                        _at, backoff = self._pending[symbol]
                        self._pending[symbol] = (now + backoff.next_delay(), backoff)
                for symbol in due:
                    try:
                        if self._request(symbol):
                            self.requests_sent += 1
                    except Exception as exc:  # the session went away: the next round retries
                        log.debug("%s: snapshot request for %s failed: %s", self.name,
                                  symbol, exc)
        except BaseException:
            with self._cond:
                self._thread = None
            raise
