"""Calls into a FIX session from other threads while the connector logs off and on again:
QuickFIX deletes a session with its engine, and nothing may reach it afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import quickfix as fix
from stockfish_fix.lifetime import EngineGuard, owned_session_id

STRESS = Path(__file__).with_name("lifetime_stress.py")


def test_threads_calling_into_the_session_survive_disconnects() -> None:
    # A subprocess: before the fix this crashed the interpreter (segfault) within 3 cycles.
    done = subprocess.run([sys.executable, str(STRESS), "8"], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["cycles"] == 8, summary["refused"]
    # The only refusal allowed: the venue still held the session of the connection just
    # closed and dropped the new one before its Logon reply.
    assert all("closed before the Logon reply" in why for why in summary["refused"]), \
        summary["refused"]
    assert summary["venue_logons"] == 8
    assert set(summary["calls"]) == {"order", "order2", "probe", "reconcile"}
    # Between sessions an order is refused as not connected; nothing else may go wrong.
    unexpected = {k: n for k, n in summary["errors"].items()
                  if k not in ("order: NotConnectedError", "order2: NotConnectedError")}
    assert unexpected == {}


def test_owned_session_id_is_a_copy() -> None:
    borrowed = fix.SessionID("FIX.4.4", "CLIENT", "VENUE", "Q1")
    owned = owned_session_id(borrowed)
    assert owned.thisown
    del borrowed
    assert owned.toString() == "FIX.4.4:CLIENT->VENUE:Q1"


def test_guard_close_waits_for_the_caller_inside_and_refuses_new_ones() -> None:
    guard = EngineGuard()
    assert not guard.enter()  # closed until an engine is in place
    guard.open()
    assert guard.enter()
    assert not guard.close(0.01)  # a caller is inside
    assert not guard.enter()  # closing: nobody new gets in
    closed = threading.Event()

    def close() -> None:
        if guard.close(10.0):
            closed.set()

    closer = threading.Thread(target=close)
    closer.start()
    assert not closed.wait(0.05)
    guard.leave()
    closer.join(10.0)
    assert closed.is_set()
    guard.open()
    assert guard.enter()
    guard.leave()
