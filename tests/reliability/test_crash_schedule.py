"""The crash schedule: the trading process is SIGKILLed again and again at random moments and
at the points of the order path that matter (before the journal write, between the journal
and the wire, after the wire, while fills stream, while reconciling at start-up), each time
restarted with the same configuration against venues living in other processes: a ``sim``
venue, a fake TWS (IBKR) and a FIX venue (QuickFIX acceptor), all three traded by every run.
The FIX session keeps its file store across the kills: at each logon the venue resends what
the dead process missed (PossDupFlag=Y), and the status requests settle the rest.

Between runs the fake TWS also does what TWS does: it restarts handing out order id 1 again
(a nightly restart), and orders appear that this process did not place (by hand in TWS, by
another API client; some resting, some filled); orders placed by someone else appear at the
FIX venue too (adopted through the OrderMassStatusRequest at logon).

After the schedule a last run reports every order it knows, and the venues' own records
decide: every order the user sent is known with the venue's final status and filled
quantity, every venue fill applied exactly once, nothing sent twice, no order working at a
venue that the process does not know (external ones included, under ``IB-<permId>``), and
no IB order id used twice (the fake TWS sent no error 103 and saw no id again), no FIX
ClOrdID used twice (the FIX venue counts reuses) and no FIX ExecID applied twice. The figures
(kills, orders, fills, mismatches, recovery time p50/p99) are printed (``pytest -s``) and
recorded in docs/reliability.md.
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
from stockfish_core.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("STOCKFISH_CRASH_KILLS", "50"))
POINTS = ("before_journal", "before_wire", "after_wire", "fill", "reconcile", "random",
          "random")
T = 60.0
#: Every this many runs, the fake TWS restarts (while no trader runs) and hands out 1.
TWS_RESTART_EVERY = 6
SYMBOLS = {"paper": ["SPY", "QQQ", "AAPL"], "tws": ["SPY", "QQQ", "IWM"],
           "fixv": ["AAA", "BBB"]}
_FIX_STATUS = {"0": "SUBMITTED", "1": "PARTIALLY_FILLED", "2": "FILLED", "4": "CANCELLED",
               "8": "REJECTED"}

_TWS_STATUS = {"Filled": "FILLED", "Cancelled": "CANCELLED", "ApiCancelled": "CANCELLED",
               "Inactive": "REJECTED"}


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


@pytest.fixture
def tws_venue() -> Iterator[Any]:
    testing = pytest.importorskip("stockfish_ibkr.testing")
    venue = testing.FakeTWSProcess(tick_interval=0.02, bar_interval=1.0, lifetime=900.0)
    venue.start()
    yield venue
    venue.stop()


@pytest.fixture
def fix_venue() -> Iterator[Any]:
    testing = pytest.importorskip("stockfish_fix.testing")
    venue = testing.FIXVenueProcess(lifetime=900.0, market_data=False, tick_interval=0.05,
                                    top_size=150.0, heartbeat_interval=1.0)
    venue.start()
    yield venue
    venue.stop()


def _trader(config: Path, ledger: Path, seed: int, *, kill: str | None = None,
            report: list[str] | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.reliability.crash_trader", str(config), str(ledger),
            "--seed", str(seed), "--symbols", json.dumps(SYMBOLS)]
    if kill:
        argv += ["--kill", kill]
    if report is not None:
        argv += ["--report", "--ids", json.dumps(report)]
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


def _fix_between_runs(run: int, fix: Any, externals: list[dict[str, Any]]) -> str | None:
    """Orders placed at the FIX venue by someone else while no trader runs."""
    if run == 3:  # resting
        externals.append(fix.add_external_order("AAA", "BUY", 5, 1.0))
        return "fix_external"
    if run == 9:  # resting after a first fill
        externals.append(fix.add_external_order("BBB", "SELL", 300, 100_000.0, fill=100))
        return "fix_external"
    return None


def _between_runs(run: int, tws: Any, externals: list[int]) -> str | None:
    """What TWS does while no trader runs before ``run``; a word for the tally."""
    if run and run % TWS_RESTART_EVERY == 0:
        tws.restart(next_valid_id=1)
        return "tws_restart"
    if run == 5:  # placed by hand in TWS, resting
        externals.append(tws.add_external_order("SPY", "BUY", 5, limit_price=1.0,
                                                client_id=0)["perm_id"])
        return "external"
    if run == 11:  # another API client's order, resting after a first fill
        externals.append(tws.add_external_order(
            "QQQ", "SELL", 300, limit_price=100_000.0, client_id=7, order_id=900,
            order_ref="their-ref", fill=100)["perm_id"])
        return "external"
    if run == 17:  # another API client's order that fills in parts, while we are away
        externals.append(tws.add_external_order(
            "IWM", "BUY", 250, limit_price=100_000.0, client_id=7, order_id=901)["perm_id"])
        return "external"
    return None


@pytest.mark.timeout(400)  # about 2.5 s a run (recovery waits out the 2 s grace)
def test_crash_schedule(tmp_path: Path, sim_venue: str, tws_venue: Any,
                        fix_venue: Any) -> None:
    fix_entry = {**fix_venue.entry, "store": "file", "store_path": str(tmp_path / "fixstore"),
                 "on_seq_mismatch": "reset", "mass_status_on_logon": True,
                 "heartbeat_interval": 1.0, "logout_timeout": 0.1,
                 "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.5}
    for key in ("control_host", "control_port", "pid"):
        fix_entry.pop(key, None)
    config = tmp_path / "trader.yaml"
    config.write_text(yaml.safe_dump({
        "connectors": {
            "paper": {"type": "sim", "address": sim_venue, "heartbeat_interval": 1.0,
                      "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.2},
            "tws": {"type": "ibkr", "port": tws_venue.port, "client_id": 1,
                    "heartbeat_interval": 2.0, "connect_timeout": 5.0, "request_timeout": 5.0,
                    "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.5},
            "fixv": fix_entry,
        },
        "manager": {"journal": str(tmp_path / "journal.sqlite3"), "stop_timeout": 5.0},
    }))
    ledger = tmp_path / "ledger.txt"
    rng = random.Random(20261206)
    recovery: list[float] = []
    kills: dict[str, int] = {}
    events: dict[str, int] = {}
    externals: list[int] = []
    fix_externals: list[dict[str, Any]] = []
    for seed in range(KILLS):
        assert tws_venue.wait_connected_clients(0, 10.0), "TWS still sees the dead client"
        assert wait_until(lambda: fix_venue.sessions_logged_on == 0, 10.0), \
            "the FIX venue still holds the dead session"
        for done in (_between_runs(seed, tws_venue, externals),
                     _fix_between_runs(seed, fix_venue, fix_externals)):
            if done:
                events[done] = events.get(done, 0) + 1
        point = rng.choice(POINTS)
        kill = None if point == "random" else f"{point}:{rng.randint(1, 6)}"
        proc = _trader(config, ledger, seed, kill=kill)
        ready = _lines(proc, {"ready"}, T)
        if ready and "ready" in ready[-1]:
            recovery.append(ready[-1]["recovery_s"])
        if point == "random" and proc.poll() is None:
            # Not a wait for anything: the moment of the kill is what is random.
            time.sleep(rng.uniform(0.0, 0.6))
            proc.kill()
        elif proc.poll() is None:
            _lines(proc, {"done"}, T)  # the kill point may not come: then it is killed now
            if proc.poll() is None:
                proc.kill()
        err = _reap(proc)
        assert proc.returncode == -signal.SIGKILL, \
            f"run {seed} ended with {proc.returncode}: {err[-3000:]}"
        kills[point] = kills.get(point, 0) + 1

    assert tws_venue.wait_connected_clients(0, 10.0)
    assert wait_until(lambda: fix_venue.sessions_logged_on == 0, 10.0)
    final = _trader(config, ledger, KILLS, report=[f"IB-{perm}" for perm in externals]
                    + [f"FIX-{e['order_id']}" for e in fix_externals])
    [last] = _lines(final, {"report"}, T)
    err = _reap(final)
    assert final.returncode == 0, err[-3000:]
    known: dict[str, Any] = last["report"]
    sent: dict[str, list[str]] = {"paper": [], "tws": [], "fixv": []}
    for line in ledger.read_text().splitlines():
        cid, name = line.split()
        sent[name].append(cid)
    sim_mismatches, sim_figures = _check_sim(sim_venue, sent["paper"], known)
    tws_mismatches, tws_figures = _check_tws(tws_venue, sent["tws"], known, externals)
    fix_mismatches, fix_figures = _check_fix(fix_venue, sent["fixv"], known, fix_externals)
    recovery.sort()
    print(f"\ncrash schedule: {KILLS} kills {kills}, between runs {events}; recovery p50 "
          f"{recovery[len(recovery) // 2]:.2f} s p99 {recovery[int(len(recovery) * 0.99)]:.2f} s")
    for name, figures, mismatches in (("sim", sim_figures, sim_mismatches),
                                      ("ibkr", tws_figures, tws_mismatches),
                                      ("fix", fix_figures, fix_mismatches)):
        print(f"  {name}: {figures}, {len(mismatches)} mismatches")
    mismatches = sim_mismatches + tws_mismatches + fix_mismatches
    assert not mismatches, "\n".join(mismatches[:30])
    assert sim_figures["fills"] > 0 and tws_figures["fills"] > 0 and fix_figures["fills"] > 0
    assert len(sent["paper"]) + len(sent["tws"]) + len(sent["fixv"]) > KILLS


def _compare(cid: str, mine: dict[str, Any] | None, status: str, filled: float,
             fills: list[str]) -> list[str]:
    if mine is None:
        return [f"{cid}: at the venue ({status}) but unknown here"]
    out = []
    if mine["status"] != status or abs(mine["filled"] - filled) > 1e-9:
        out.append(f"{cid}: venue {status} {filled}, here {mine['status']} {mine['filled']}")
    if mine["fills"] != sorted(fills):
        out.append(f"{cid}: fills differ from the venue's ({len(mine['fills'])} here, "
                   f"{len(fills)} there)")
    if mine["unknown"]:
        out.append(f"{cid}: still of unknown outcome")
    return out


def _check_sim(address: str, sent: list[str], known: dict[str, Any]
               ) -> tuple[list[str], dict[str, int]]:
    venue = RemoteVenue(address)
    try:
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
        mismatches += _compare(cid, mine, state["status"], state["filled"],
                               [f["exec_id"] for f in state["fills"]])
    mismatches += [f"{cid}: working at the venue, invisible here"
                   for cid in working - set(known)]
    return mismatches, {"orders": len(sent), "at_venue": sum(1 for s in truth.values() if s),
                        "fills": sum(len(s["fills"]) for s in truth.values() if s)}


def _tws_status(order: dict[str, Any]) -> str:
    status = _TWS_STATUS.get(order["status"])
    if status is None:  # working
        status = "PARTIALLY_FILLED" if order["filled"] > 0 else "SUBMITTED"
    return status


def _check_tws(tws: Any, sent: list[str], known: dict[str, Any], externals: list[int]
               ) -> tuple[list[str], dict[str, int]]:
    orders = tws.orders()
    executions = tws.executions
    received = tws.orders_received
    stats = tws.stats()
    by_ref = {o["order_ref"]: o for o in orders if o["client_id"] == 1}
    fills_of: dict[int, list[str]] = {}
    for e in executions:
        fills_of.setdefault(e["perm_id"], []).append(e["exec_id"])
    mine_ids = set(sent)
    mismatches = []
    placed: dict[str, int] = {}
    ids: list[int] = []
    for r in received:
        if r.get("client_id") == 1 and r.get("outcome") != "dropped 100":
            placed[r.get("order_ref", "")] = placed.get(r.get("order_ref", ""), 0) + 1
            ids.append(r["order_id"])
        if r.get("outcome") == "modified":
            mismatches.append(f"order id {r['order_id']} reused for a working order "
                              f"({r.get('order_ref')})")
    if len(ids) != len(set(ids)):
        mismatches.append(f"{len(ids) - len(set(ids))} order id(s) placed twice")
    for code in ("error_103", "error_104", "order_id_reuse"):
        if stats.get(code):
            mismatches.append(f"TWS counted {stats[code]} {code}")
    for cid in sent:
        mine = known.get(cid)
        if placed.get(cid, 0) > 1:
            mismatches.append(f"{cid}: received {placed[cid]} times by TWS")
        venue = by_ref.get(cid)
        if venue is None:
            if mine is not None and mine["status"] != "REJECTED":
                mismatches.append(f"{cid}: never working at TWS, but {mine['status']} here")
            continue
        mismatches += _compare(cid, mine, _tws_status(venue), venue["filled"],
                               fills_of.get(venue["perm_id"], []))
    for venue in orders:  # nothing working invisible; external orders and fills surfaced
        if venue["client_id"] == 1 and venue["order_ref"] in mine_ids:
            continue
        cid = f"IB-{venue['perm_id']}"
        mine = known.get(cid)
        if venue["perm_id"] not in externals:
            mismatches.append(f"{cid}: an order of client {venue['client_id']} nobody placed")
        elif mine is None and (venue["status"] in ("Submitted", "PreSubmitted")
                               or fills_of.get(venue["perm_id"])):
            mismatches.append(f"{cid}: external order at TWS ({venue['status']}), invisible "
                              f"here")
        elif mine is not None:
            if not mine["external"]:
                mismatches.append(f"{cid}: not flagged external")
            mismatches += _compare(cid, mine, _tws_status(venue), venue["filled"],
                                   fills_of.get(venue["perm_id"], []))
    ours_at_tws = [o for o in orders if o["order_ref"] in mine_ids]
    return mismatches, {"orders": len(sent), "at_venue": len(ours_at_tws),
                        "fills": sum(len(fills_of.get(o["perm_id"], []))
                                     for o in ours_at_tws),
                        "external_orders": len(externals),
                        "external_fills": sum(len(fills_of.get(p, [])) for p in externals),
                        "tws_restarts": stats.get("restarts", 0)}


def _check_fix(venue: Any, sent: list[str], known: dict[str, Any],
               externals: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    mismatches = []
    ours = set(sent)
    at_venue = fills = 0
    for cid in sent:
        state, mine = venue.order_state(cid), known.get(cid)
        received = venue.orders_received_count(cid)
        if received > 1:
            mismatches.append(f"{cid}: received {received} times by the FIX venue")
        if state is None:
            if mine is not None and mine["status"] != "REJECTED":
                mismatches.append(f"{cid}: never at the FIX venue, but {mine['status']} here")
            continue
        at_venue += 1
        fills += len(state["fills"])
        mismatches += _compare(cid, mine, _FIX_STATUS[state["status"]], state["cum_qty"],
                               state["fills"])
    external_ids = {e["order_id"] for e in externals}
    for state in venue.working_orders():  # nothing working invisible
        if state["first_cl_ord_id"] in ours:
            continue
        cid = f"FIX-{state['order_id']}"
        if state["order_id"] not in external_ids:
            mismatches.append(f"{cid}: a FIX order nobody placed")
        elif cid not in known:
            mismatches.append(f"{cid}: external order at the FIX venue, invisible here")
    external_fills = 0
    for placed in externals:
        cid = f"FIX-{placed['order_id']}"
        state, mine = venue.order_state(placed["cl_ord_id"]), known.get(cid)
        external_fills += len(state["fills"])
        if mine is None:
            mismatches.append(f"{cid}: external order never adopted")
            continue
        if not mine["external"]:
            mismatches.append(f"{cid}: not flagged external")
        mismatches += _compare(cid, mine, _FIX_STATUS[state["status"]], state["cum_qty"],
                               state["fills"])
    duplicates = venue.duplicate_cl_ord_ids
    if duplicates:
        mismatches.append(f"ClOrdIDs used more than once at the FIX venue: {duplicates}")
    return mismatches, {"orders": len(sent), "at_venue": at_venue, "fills": fills,
                        "external_orders": len(externals), "external_fills": external_fills,
                        "clordid_reuses": sum(duplicates.values())}
