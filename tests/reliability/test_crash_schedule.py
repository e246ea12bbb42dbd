"""The crash schedule: the trading process is SIGKILLed again and again at random moments and
at the points of the order path that matter (before the journal write, between the journal
and the wire, after the wire, while fills stream, while reconciling at start-up), each time
restarted with the same configuration against venues living in other processes.

After the schedule a last run reports every order it knows, and the venues' own records
decide: every order the user sent is known with the venue's final status and filled
quantity, every venue fill applied exactly once, nothing sent twice, no order working at a
venue that the process does not know. The figures (kills, orders, fills, mismatches,
recovery time p50/p99) are printed (``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_core.sim_remote import RemoteVenue

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("STOCKFISH_CRASH_KILLS", "50"))
POINTS = ("before_journal", "before_wire", "after_wire", "fill", "reconcile", "random",
          "random")
T = 60.0


def _start_sim() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "stockfish_core.sim_remote", "--name",
                             "crash", "--tick-interval", "0.01", "--top-size", "150"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    entry = json.loads(proc.stdout.readline())
    return proc, entry["address"]


@pytest.fixture
def sim_venue() -> Iterator[str]:
    proc, address = _start_sim()
    yield address
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _trader(config: Path, ledger: Path, seed: int, symbols: dict[str, list[str]], *,
            kill: str | None = None, report: bool = False) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.reliability.crash_trader", str(config), str(ledger),
            "--seed", str(seed), "--symbols", json.dumps(symbols)]
    if kill:
        argv += ["--kill", kill]
    if report:
        argv.append("--report")
    return subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _lines(proc: subprocess.Popen[str], until: set[str], timeout: float) -> list[dict[str, Any]]:
    """JSON lines the trader printed, up to one with a key in ``until`` or its death."""
    assert proc.stdout is not None
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        message = json.loads(line)
        out.append(message)
        if until & set(message):
            break
    return out


def _reap(proc: subprocess.Popen[str]) -> str:
    try:
        _, err = proc.communicate(timeout=T)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return err


def test_crash_schedule_sim(tmp_path: Path, sim_venue: str) -> None:
    config = tmp_path / "trader.yaml"
    config.write_text(yaml.safe_dump({
        "connectors": {"paper": {"type": "sim", "address": sim_venue,
                                 "heartbeat_interval": 1.0, "reconnect_initial_delay": 0.05,
                                 "reconnect_max_delay": 0.2}},
        "manager": {"journal": str(tmp_path / "journal.sqlite3"), "stop_timeout": 5.0},
    }))
    ledger = tmp_path / "ledger.txt"
    symbols = {"paper": ["SPY", "QQQ", "AAPL"]}
    rng = random.Random(20261206)
    recovery: list[float] = []
    kills: dict[str, int] = {}
    for seed in range(KILLS):
        point = rng.choice(POINTS)
        kill = None if point == "random" else f"{point}:{rng.randint(1, 6)}"
        proc = _trader(config, ledger, seed, symbols, kill=kill)
        ready = _lines(proc, {"ready"}, T)
        if ready and "ready" in ready[-1]:
            recovery.append(ready[-1]["recovery_s"])
        if point == "random" and proc.poll() is None:
            # Not a wait for anything: the moment of the kill is what is random.
            time.sleep(rng.uniform(0.0, 0.4))
            proc.kill()
        elif proc.poll() is None:
            _lines(proc, {"done"}, T)  # the kill point may not come: then it is killed now
            if proc.poll() is None:
                proc.kill()
        _reap(proc)
        assert proc.returncode == -signal.SIGKILL, f"run {seed} ended with {proc.returncode}"
        kills[point] = kills.get(point, 0) + 1

    final = _trader(config, ledger, KILLS, symbols, report=True)
    [last] = _lines(final, {"report"}, T)
    err = _reap(final)
    assert final.returncode == 0, err[-3000:]
    known: dict[str, Any] = last["report"]
    venue = RemoteVenue(sim_venue)
    try:
        sent = [line.split()[0] for line in ledger.read_text().splitlines()]
        truth = venue.query(sent)
        received = venue.orders_received()
        working = set(venue.open_order_ids())
    finally:
        venue.close()
    mismatches = []
    for cid in sent:
        state, mine = truth[cid], known.get(cid)
        if received.get(cid, 0) > 1:
            mismatches.append(f"{cid}: received {received[cid]} times by the venue")
        if state is None:
            if mine is not None and mine["status"] != "REJECTED":
                mismatches.append(f"{cid}: never at the venue, but {mine['status']} here")
            continue
        if mine is None:
            mismatches.append(f"{cid}: at the venue ({state['status']}) but unknown here")
            continue
        if mine["status"] != state["status"] or abs(mine["filled"] - state["filled"]) > 1e-9:
            mismatches.append(f"{cid}: venue {state['status']} {state['filled']}, here "
                              f"{mine['status']} {mine['filled']}")
        if mine["fills"] != sorted(f["exec_id"] for f in state["fills"]):
            mismatches.append(f"{cid}: fills differ from the venue's")
        if mine["unknown"]:
            mismatches.append(f"{cid}: still of unknown outcome")
    invisible = working - set(known)
    mismatches += [f"{cid}: working at the venue, invisible here" for cid in invisible]
    recovery.sort()
    fills = sum(len(s["fills"]) for s in truth.values() if s)
    print(f"crash schedule sim: {KILLS} kills {kills}, {len(sent)} orders sent, "
          f"{sum(1 for s in truth.values() if s)} at the venue, {fills} fills, "
          f"{len(mismatches)} mismatches; recovery p50 {recovery[len(recovery) // 2]:.2f} s "
          f"p99 {recovery[int(len(recovery) * 0.99)]:.2f} s")
    assert not mismatches, "\n".join(mismatches[:30])
    assert fills > 0 and len(sent) > KILLS
