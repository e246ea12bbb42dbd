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

Deleting an engine frees its sessions, and with them every object QuickFIX lent to Python
from inside them: the ``SessionID`` an Application callback receives is such a loan, and
``Session.sendToTarget`` uses the session it looked up after letting go of the table's lock.
A thread that calls into a session while another deletes the engine reads freed memory (a
segfault, or a message sent under a garbage SessionID). Hence :func:`owned_session_id` for
ids kept past a callback, and :class:`EngineGuard` in front of every call into a session
from a thread that is not the engine's own.
"""

from __future__ import annotations

import threading
from typing import Any

import quickfix as fix

__all__ = ["EngineGuard", "SessionClashError", "check_sessions_free", "owned_session_id",
           "release"]


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


def owned_session_id(session_id: Any) -> Any:
    """A copy of ``session_id`` that Python owns: safe to keep after its session is gone
    (QuickFIX then answers ``SessionNotFound`` for it instead of reading freed memory)."""
    return fix.SessionID(session_id.getBeginString().getValue(),
                         session_id.getSenderCompID().getValue(),
                         session_id.getTargetCompID().getValue(),
                         session_id.getSessionQualifier())


class EngineGuard:
    """Keeps an engine's sessions alive while other threads call into them.

    Callers bracket each call with :meth:`enter` (False: the engine is closed, do not call)
    and :meth:`leave`; :meth:`close` refuses new callers and waits for those inside, after
    which the engine may be released. The engine's own thread needs no guard: stopping the
    engine joins it before it is released.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._open = False

    def open(self) -> None:
        """Admit callers (a new engine is in place)."""
        with self._cond:
            self._open = True

    def enter(self) -> bool:
        """True if the caller may use the engine now; it must then call :meth:`leave`."""
        with self._cond:
            if not self._open:
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._inside -= 1
            if self._inside == 0:
                self._cond.notify_all()

    def close(self, timeout: float) -> bool:
        """Refuse new callers and wait (at most ``timeout`` s) until none is inside.
        False: a call is still in progress and the engine must not be released yet."""
        with self._cond:
            self._open = False
            return self._cond.wait_for(lambda: self._inside == 0, timeout)
