"""The fake TWS in its own process, driven over its control channel, stopped by pid."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from stockfish_ibkr.testing import FakeTWSProcess, Instrument
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]
T = 10.0


@pytest.fixture
def venue() -> Iterator[FakeTWSProcess]:
    process = FakeTWSProcess(tick_interval=0.02, lifetime=120.0)
    process.start()
    yield process
    process.stop()


def _exits_within(pid: int, timeout: float = T) -> bool:
    """Wait until process ``pid`` (not necessarily our child) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            return bool(selector.select(timeout))
    finally:
        os.close(fd)


def _line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line ``proc`` prints, waiting at most ``timeout``."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline().strip()


def test_drive_a_fault_read_the_record_stop_by_pid(raw: Raw, venue: FakeTWSProcess) -> None:
    entry = venue.entry
    assert (entry["host"], entry["pid"]) == ("127.0.0.1", venue.pid)
    assert entry["port"] == venue.port and entry["control_port"] != venue.port
    client = raw(venue.port)
    assert venue.running, "its standard input is closed: it runs on"
    venue.inject_error("placeOrder", 201, reason="no trading permissions")
    order = client.mod.LimitOrder("BUY", 3, 100.0)
    order.orderRef = "remote-1"
    trade = client.ib.placeOrder(client.contract("SPY"), order)
    assert client.wait(lambda: 201 in client.codes(trade.order.orderId))
    assert [(r["order_ref"], r["outcome"]) for r in venue.orders_received] == \
        [("remote-1", "rejected 201")]
    assert venue.errors_sent[-1]["message"] == "Order rejected - reason:no trading permissions"
    assert venue.farm_lost("usfarm") == ["usfarm"]
    assert client.wait(lambda: 2103 in client.codes(-1))
    assert venue.stats()["error_201"] == 1 and venue.connected_clients == 1
    assert venue.instrument("SPY").bid > 0
    pid = venue.pid
    assert venue.stop() == 0, "SIGTERM: a clean stop"
    assert not venue.running and pid is not None and _exits_within(pid, 0.0)


def test_state_outlives_a_trading_process_killed_mid_run(raw: Raw,
                                                         venue: FakeTWSProcess) -> None:
    script = (
        "import sys, ib_insync as ib\n"
        "c = ib.IB()\n"
        f"c.connect('127.0.0.1', {venue.port}, clientId=11, timeout=10)\n"
        "o = ib.LimitOrder('BUY', 4, 100.0)\n"
        "o.orderRef = 'before-crash'\n"
        "o.tif = 'GTC'\n"
        "t = c.placeOrder(c.qualifyContracts(ib.Stock('SPY', 'SMART', 'USD'))[0], o)\n"
        "for _ in range(100):\n"
        "    if t.orderStatus.status == 'Submitted':\n"
        "        break\n"
        "    c.waitOnUpdate(timeout=0.1)\n"
        "print('placed', flush=True)\n"
        "sys.stdin.read()\n"  # holds the session open until it is killed
    )
    trader = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert _line(trader, T) == "placed"
        trader.kill()
        trader.wait(T)
    finally:
        if trader.poll() is None:
            trader.kill()
            trader.wait(T)
    assert venue.wait_connected_clients(0, T), "TWS saw the killed client go"
    again = raw(venue.port, client_id=11)
    assert [t.order.orderRef for t in again.ib.reqOpenOrders()] == ["before-crash"]
    assert [o["order_ref"] for o in venue.orders()] == ["before-crash"]


def test_sigint_stops_it_cleanly(venue: FakeTWSProcess) -> None:
    venue.send_signal(signal.SIGINT)
    assert venue.wait(T) == 0


def test_kill_is_a_crash(venue: FakeTWSProcess) -> None:
    assert venue.kill() == -signal.SIGKILL
    assert not venue.running


def test_it_exits_when_its_parent_dies() -> None:
    script = (
        "import os\n"
        "from stockfish_ibkr.testing import FakeTWSProcess\n"
        "tws = FakeTWSProcess(lifetime=60.0)\n"
        "tws.start()\n"
        "print(tws.pid, flush=True)\n"
        "os._exit(0)\n"  # dies without stopping its child
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)
    orphan = int(parent.stdout.strip())
    assert _exits_within(orphan), f"fake TWS {orphan} outlived its parent"


def test_lifetime_bounds_it() -> None:
    with FakeTWSProcess(lifetime=0.5) as venue:
        assert venue.wait(T) == 0


def test_fixed_port_and_options(raw: Raw) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    only = Instrument("ACME", "STK", "SMART", "USD", 4242, 10.0, primary_exchange="NYSE")
    with FakeTWSProcess(port=port, instruments=[only.to_dict()],
                        max_messages_per_second=80) as venue:
        assert venue.port == port
        assert venue.configure()["max_messages_per_second"] == 80
        client = raw(port)
        assert client.contract("ACME").conId == 4242
        assert not any(client.ib.qualifyContracts(client.mod.Stock("SPY", "SMART", "USD")))


def test_control_errors_come_back_as_exceptions(venue: FakeTWSProcess) -> None:
    with pytest.raises(ValueError, match="does not answer placeOrder with error 10147"):
        venue.inject_error("placeOrder", 10147)
    with pytest.raises(ValueError, match="unknown control method"):
        venue.call("stop")
    with pytest.raises(KeyError):
        venue.instrument("NOPE")
    with pytest.raises(AttributeError):
        venue.no_such_method  # noqa: B018
    assert venue.running, "a refused call leaves it serving"
    assert venue.pending_errors() == []
