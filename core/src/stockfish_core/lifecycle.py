"""Stopping a process cleanly on SIGINT and SIGTERM, within a bound.

- :func:`restore_sigint` re-installs Python's SIGINT handler at the C level. Some native
  libraries reset it when imported (``import quickfix`` does), after which Ctrl-C kills the
  process outright: no ``finally``, no FIX Logout, no journal flush. Connector plugins call
  it after importing such a library, and the manager calls it when it starts.
- :func:`handle_stop_signals` makes SIGINT and SIGTERM alike: the first one raises
  :class:`StopRequested` (a ``KeyboardInterrupt``) in the main thread, so ``with`` blocks
  and ``finally`` clauses run (the manager's ``stop_all`` with its ``on_stop`` policy, the
  journal flush), and arms a watchdog that ends the process if that takes longer than the
  bound; a second signal ends it at once. ``stockfish-rt run``, ``demo``, ``venues`` and
  ``serve`` use it; a user script may too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StopRequested", "handle_stop_signals", "restore_sigint"]

log = logging.getLogger(__name__)

#: Exit status when a second signal (or the watchdog) forces the exit.
FORCED_EXIT = 130


class StopRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the process to stop (``signum`` says which)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def restore_sigint() -> bool:
    """Re-install the current Python SIGINT handler at the C level (a native library may
    have replaced it). Only the main thread can; returns False elsewhere."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, signal.getsignal(signal.SIGINT))
    return True


class _StopHandler:
    def __init__(self, bound: float, on_force: Callable[[], object] | None) -> None:
        self.bound = bound
        self.on_force = on_force
        self.requested: int | None = None
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> Any:
        if self.requested is not None:
            self._force(f"second {signal.Signals(signum).name}: stopping now")
            return
        self.requested = signum
        self.event.set()
        log.warning("%s: stopping cleanly (within %.0f s; %s again to force)",
                    signal.Signals(signum).name, self.bound, signal.Signals(signum).name)
        watchdog = threading.Timer(self.bound, self._force,
                                   args=(f"still stopping after {self.bound:.0f} s",))
        watchdog.daemon = True
        watchdog.start()
        raise StopRequested(signum)

    def _force(self, why: str) -> None:
        log.error("%s: exiting without a clean stop", why)
        if self.on_force is not None:
            try:
                self.on_force()
            except Exception:
                log.exception("the last step before a forced exit failed")
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(FORCED_EXIT)


def handle_stop_signals(bound: float = 30.0,
                        on_force: Callable[[], object] | None = None) -> threading.Event:
    """Install the SIGINT/SIGTERM handlers (main thread only) and return an event set at
    the first signal. ``bound``: seconds the clean stop may take before the process is
    ended anyway; ``on_force``: a last, quick step before a forced exit (e.g. flushing the
    order journal)."""
    handler = _StopHandler(bound, on_force)
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("stop signals can only be handled from the main thread")
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return handler.event
