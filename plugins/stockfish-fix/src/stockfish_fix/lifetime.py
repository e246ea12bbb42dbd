"""Owning QuickFIX engines (initiators, acceptors) in a long-running process.

QuickFIX keeps one process-wide table of sessions keyed by SessionID. A session enters it
when its engine is built and leaves it when the engine's C++ object is deleted; while an
older engine with the same SessionID is alive, a new one's session is silently left out,
and ``Session.sendToTarget`` / ``lookupSession`` reach the old, logged-out session: messages
vanish into its store. Two things make that happen in practice:

- a Python exception raised from an Application callback (``RejectLogon``, ``DoNotSend``)
  is kept by the SWIG director together with its frames, and a frame of ``poll()`` holds the
  engine, so the engine is never garbage collected;
- two connectors configured with the same CompIDs in one process.

:func:`release` deletes the C++ engine as soon as it is stopped, whatever still refers to
the Python proxy; :func:`check_sessions_free` turns the second case into a clear error
instead of lost messages.
"""

from __future__ import annotations

from typing import Any

import quickfix as fix

__all__ = ["SessionClashError", "check_sessions_free", "release"]


class SessionClashError(RuntimeError):
    """Another live QuickFIX engine in this process owns the same SessionID."""


def release(engine: Any) -> None:
    """Delete a stopped engine's C++ object now (its sessions leave QuickFIX's table).

    The Python proxy must not be used afterwards; references that outlive this call (a
    leaked traceback's frames) never run again. Safe to call twice.
    """
    if engine is None or not engine.thisown:
        return
    # The SWIG destructor takes ownership from the proxy first, so the proxy's own
    # deallocation later does not free it a second time.
    type(engine).__swig_destroy__(engine)


def check_sessions_free(settings: Any) -> None:
    """Raise :class:`SessionClashError` if a session named in ``settings`` (a QuickFIX
    ``SessionSettings``) is already open in this process. Call it before building the
    engine: an engine built anyway could not be deleted without taking the other
    engine's session out of QuickFIX's table with it (the table is keyed by SessionID)."""
    for session_id in settings.getSessions():
        if fix.Session.lookupSession(session_id) is not None:
            raise SessionClashError(
                f"another FIX session {session_id} is already open in this process "
                f"(two connectors or venues with the same BeginString and CompIDs?); "
                f"use distinct SenderCompID/TargetCompID or close the other one first")
