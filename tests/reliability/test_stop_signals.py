"""SIGINT and SIGTERM stop `stockfish-rt run`, `stockfish-rt demo` and a user's script
cleanly, within a bound, with every connector type configured (FIX included: importing
quickfix resets Ctrl-C's C-level handler); a second signal forces the exit.

Each run measures the time from the signal to the exit; the venues check what a clean stop
leaves behind: the FIX venue received a Logout, the fake TWS and the sim venue saw their
client leave, the journal holds every order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_core.sim_remote import VenueServer, serve
from stockfish_core.testing import wait_until
from stockfish_core.testing.fault_proxy import FaultProxy

fix_testing = pytest.importorskip("stockfish_fix.testing")
ibkr_testing = pytest.importorskip("stockfish_ibkr.testing")
zmq_testing = pytest.importorskip("stockfish_zmq.testing")

STOCKFISH_RT = str(Path(sys.executable).with_name("stockfish-rt"))
T = 30.0
#: The clean stop must finish within this (stop_timeout 5 s, FIX logout, IB disconnect).
BOUND = 15.0
FIGURES: list[dict[str, Any]] = []


class Venues:
    """One venue of each kind, in this process, and the configuration that reaches them."""

    def __init__(self, tmp: Path) -> None:
        self.fix = fix_testing.FIXVenue(version="FIX44", tick_interval=0.05)
        self.tws = ibkr_testing.FakeTWS(tick_interval=0.05)
        self.zmq = zmq_testing.SimPublisher(("BTCUSD",), copies=1)
        self.sim: VenueServer = serve(f"signals-{os.getpid()}-{time.monotonic_ns()}", 0,
                                      tick_interval=0.05)
        fix_entry = self.fix.start()
        tws_entry = self.tws.start()
        self.zmq.start()
        self.zmq.stream(rate=50)
        self.journal = tmp / "journal.sqlite3"
        fast = {"heartbeat_interval": 1.0, "reconnect_initial_delay": 0.05,
                "reconnect_max_delay": 0.5}
        self.config = {
            "connectors": {
                "fix": {**fix_entry, **fast, "logout_timeout": 2.0, "connect_timeout": 10.0,
                        "store": "memory"},
                "ibkr": {**tws_entry, **fast, "client_id": 11},
                "zmq": {"type": "zmq", "endpoints": list(self.zmq.endpoints),
                        "heartbeat_interval": 1.0, "data_only": True},
                "sim": {"type": "sim", "address": self.sim.address, **fast},
            },
            "manager": {"journal": str(self.journal), "stop_timeout": 5.0,
                        "health_check_interval": 1.0},
        }
        self.path = tmp / "stockfish.yaml"
        self.write()

    def write(self, only: tuple[str, ...] | None = None) -> Path:
        config = json.loads(json.dumps(self.config))
        if only is not None:
            config["connectors"] = {k: v for k, v in config["connectors"].items()
                                    if k in only}
        self.path.write_text(yaml.safe_dump(config))
        return self.path

    def everyone_connected(self, only: tuple[str, ...]) -> bool:
        checks = {"fix": lambda: self.fix.sessions_logged_on >= 1,
                  "ibkr": lambda: self.tws.connected_clients >= 1,
                  "zmq": lambda: self.zmq.wait_subscribers(1, 0),
                  "sim": lambda: len(self.sim.venue.sessions) >= 1}
        return all(checks[name]() for name in only)

    def stop(self) -> None:
        self.fix.stop()
        self.tws.stop()
        self.zmq.stop()
        self.sim.stop()
        self.sim.venue.stop()


@pytest.fixture(scope="module", autouse=True)
def _report_figures() -> Iterator[None]:
    """Print the measured stop times (``pytest -s`` shows them; docs/reliability.md has
    them)."""
    yield
    for row in FIGURES:
        print(f"stop: {row['command']:<12} {row['connectors']:<22} {row['signal']:<8} "
              f"{row['seconds']:.2f} s")


@pytest.fixture
def venues(tmp_path: Path) -> Iterator[Venues]:
    v = Venues(tmp_path)
    yield v
    v.stop()


def _spawn(argv: list[str], tmp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, float, str]:
    """Signal ``proc`` (our own child, by pid); its exit status, the seconds it took, and
    what it printed."""
    start = time.monotonic()
    proc.send_signal(signum)
    try:
        output, _ = proc.communicate(timeout=BOUND + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate(timeout=10)
        pytest.fail(f"no exit within {BOUND + 10:.0f} s of {signal.Signals(signum).name}:\n"
                    f"{output[-3000:]}")
    return proc.returncode, time.monotonic() - start, output


ALL = ("fix", "ibkr", "zmq", "sim")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("only", [("fix",), ALL], ids=["fix", "every-connector"])
def test_run_stops_cleanly(venues: Venues, tmp_path: Path, signum: int,
                           only: tuple[str, ...]) -> None:
    proc = _spawn([STOCKFISH_RT, "run", str(venues.write(only)), "--interval", "0.5"],
                  tmp_path)
    try:
        assert wait_until(lambda: venues.everyone_connected(only) or proc.poll() is not None,
                          T), "the connectors never connected"
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        logouts = venues.fix.logouts_received
        code, took, output = _stop(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert code == 0, output[-3000:]
    assert took < BOUND, f"{took:.1f} s to stop"
    assert "Traceback" not in output, output[-3000:]
    if "fix" in only:
        assert venues.fix.logouts_received == logouts + 1, "no FIX Logout on the way out"
    if "ibkr" in only:
        assert venues.tws.wait_connected_clients(0, 10.0)
    if "sim" in only:
        assert wait_until(lambda: not venues.sim.venue.sessions, 10.0)
    FIGURES.append({"command": "run", "connectors": "+".join(only),
                    "signal": signal.Signals(signum).name, "seconds": round(took, 2)})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_user_script_stops_cleanly(venues: Venues, tmp_path: Path, signum: int) -> None:
    """The documented pattern: a ``with`` block, plus ``handle_stop_signals()`` for SIGTERM."""
    script = tmp_path / "strategy.py"
    script.write_text(textwrap.dedent(f"""
        import threading
        from stockfish_core import ExchangeManager, Order, OrderSide, OrderType
        from stockfish_core.lifecycle import handle_stop_signals

        handle_stop_signals()
        with ExchangeManager.from_config({str(venues.write(ALL))!r}) as manager:
            order = Order("AAA", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0)
            manager.send_order(order, "fix")
            print("ready", order.client_order_id, flush=True)
            threading.Event().wait()
        print("stopped cleanly", flush=True)
    """))
    proc = _spawn([sys.executable, str(script)], tmp_path)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready"), line + proc.communicate(timeout=10)[0][-3000:]
        cid = line.split()[1]
        logouts = venues.fix.logouts_received
        code, took, output = _stop(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "stopped cleanly" not in output  # the interrupt ends the script after the block
    assert code != -signum, f"killed by {signal.Signals(signum).name}, not stopped"
    assert took < BOUND
    assert venues.fix.logouts_received == logouts + 1
    assert venues.tws.wait_connected_clients(0, 10.0)
    with __import__("sqlite3").connect(venues.journal) as db:
        assert db.execute("SELECT status FROM orders WHERE client_order_id = ?",
                          (cid,)).fetchone() == ("SUBMITTED",)
    FIGURES.append({"command": "user script", "connectors": "+".join(ALL),
                    "signal": signal.Signals(signum).name, "seconds": round(took, 2)})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_cleanly(tmp_path: Path, signum: int) -> None:
    proc = _spawn([STOCKFISH_RT, "demo", "--duration", "60"], tmp_path)
    try:
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + T
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "orders" in line.lower() or not line:
                break
        assert proc.poll() is None, "".join(seen)[-3000:]
        code, took, output = _stop(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert code == 130, output[-3000:]
    assert took < BOUND, f"{took:.1f} s"
    assert "Traceback" not in output, output[-3000:]
    assert "stopping" in output
    FIGURES.append({"command": "demo", "connectors": "every simulated venue",
                    "signal": signal.Signals(signum).name, "seconds": round(took, 2)})


def test_a_second_signal_forces_the_exit(venues: Venues, tmp_path: Path) -> None:
    # The FIX session behind a proxy that stops forwarding: the clean stop waits for a
    # Logout answer that never comes (logout_timeout 30 s), so only a second signal ends it.
    proxy = FaultProxy(venues.fix.port)
    config = json.loads(json.dumps(venues.config))
    config["connectors"] = {"fix": {**config["connectors"]["fix"], "port": proxy.port,
                                    "logout_timeout": 30.0}}
    config["manager"]["stop_timeout"] = 30.0
    path = tmp_path / "stalled.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = _spawn([STOCKFISH_RT, "run", str(path)], tmp_path)
    try:
        assert wait_until(lambda: venues.fix.sessions_logged_on >= 1, T)
        proxy.stall()
        assert proc.stdout is not None
        proc.send_signal(signal.SIGINT)
        seen = []
        deadline = time.monotonic() + T
        while time.monotonic() < deadline:  # the clean stop began (it now waits on FIX)
            line = proc.stdout.readline()
            seen.append(line)
            if "stopping cleanly" in line or not line:
                break
        assert "stopping cleanly" in seen[-1], "".join(seen)[-3000:]
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10.0)
        took = time.monotonic() - start
    finally:
        proxy.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, output[-3000:]
    assert took < 5.0, f"{took:.1f} s after the second signal"
    assert "stopping now" in output
