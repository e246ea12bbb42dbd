"""Stopping child processes a test started (a venue, a server, a trading process)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from typing import Any

__all__ = ["kill_process", "stop_process"]


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> int | None:
    """SIGTERM ``proc`` (a clean stop) and wait up to ``timeout`` seconds, then SIGKILL it;
    its exit status (None for no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
    return proc.returncode


def kill_process(proc: subprocess.Popen[Any] | None) -> int | None:
    """SIGKILL ``proc`` (a crash: it keeps nothing) and reap it; its exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5.0)
    return proc.poll()
