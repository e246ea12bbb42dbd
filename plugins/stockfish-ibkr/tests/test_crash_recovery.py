"""The application killed (SIGKILL) and started again, two processes with the order journal
between them (``journal_trader.py``), against a fake TWS that
restarts meanwhile: no order id is ever used twice (no error 103), and orders TWS
acknowledged and then forgot are never called "never received"."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_ibkr.testing import FakeTWS

T = 30.0
TRADER = Path(__file__).with_name("journal_trader.py")


class _Traders:
    """Trading processes against one fake TWS and one journal; every one is ended."""

    def __init__(self, tmp_path: Path, tws: FakeTWS, backend: str) -> None:
        self.config = tmp_path / "trader.yaml"
        self.config.write_text(yaml.safe_dump({
            "connectors": {"tws": {"type": "ibkr", "port": tws.port, "client_id": 1,
                                   "backend": backend, "heartbeat_interval": 1.0,
                                   "connect_timeout": 5.0, "request_timeout": 5.0}},
            "manager": {"journal": str(tmp_path / "journal.sqlite3"), "stop_timeout": 3.0},
        }))
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        """Start one; return it with the JSON line it printed."""
        proc = subprocess.Popen([sys.executable, str(TRADER), str(self.config), *args],
                                stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        return proc, self._line(proc)

    @staticmethod
    def _line(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                if not selector.select(T):
                    proc.kill()
                    raise AssertionError(f"the trader printed nothing in {T:.0f} s")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    _, err = proc.communicate(timeout=T)
                    raise AssertionError(f"the trader ended ({proc.returncode}): "
                                         f"{err.decode()[-3000:]}")
                data += chunk
        return json.loads(data.split(b"\n", 1)[0])  # type: ignore[no-any-return]

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=T)
        assert proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=T)


@pytest.fixture
def traders(tmp_path: Path, tws: FakeTWS, backend: str) -> Iterator[_Traders]:
    made = _Traders(tmp_path, tws, backend)
    yield made
    made.close()


def _orders(prefix: str, n: int, **spec: Any) -> str:
    return json.dumps([{"cid": f"{prefix}{i}", "qty": 2, **spec} for i in range(n)])


def test_no_order_id_is_used_twice_when_tws_rolls_back_across_an_application_crash(
        traders: _Traders, tws: FakeTWS) -> None:
    """The first process's last orders were cancelled: TWS lists no id of theirs at the
    next logon (completed orders carry none, and nothing was executed), and TWS restarted
    handing out 1 again. Only the journaled high-water mark knows those ids were used."""
    first, line = traders.run("--orders", _orders("A", 3, price=1.0, tif="GTC"), "--cancel")
    used = [int(o["order_id"]) for o in line["orders"].values()]
    assert all(o["status"] == "CANCELLED" for o in line["orders"].values()), line
    traders.kill(first)
    assert tws.wait_connected_clients(0)
    tws.restart(next_valid_id=1)
    second, line = traders.run("--orders", _orders("B", 3))
    later = {cid: o for cid, o in line["orders"].items() if cid.startswith("B")}
    assert all(o["status"] == "FILLED" for o in later.values()), line
    assert min(int(o["order_id"]) for o in later.values()) > max(used)
    traders.kill(second)
    stats = tws.stats()
    assert stats.get("error_103", 0) == 0 and stats.get("order_id_reuse", 0) == 0
    ids = [r["order_id"] for r in tws.orders_received]
    assert len(ids) == len(set(ids)) == 6


def test_orders_tws_forgot_while_the_application_was_dead_stay_of_unknown_outcome(
        traders: _Traders, tws: FakeTWS) -> None:
    """TWS acknowledged two orders (one then partly filled), the application died, and TWS
    came back from a restart without them: the restarted application calls them lost by
    TWS, of unknown outcome, with the fill applied once, never "never received"."""
    first, line = traders.run("--orders", json.dumps([
        {"cid": "W", "qty": 7, "price": 1.0, "tif": "GTC"},
        {"cid": "P", "qty": 250, "price": 1.0, "tif": "GTC"}]))
    assert {o["status"] for o in line["orders"].values()} == {"SUBMITTED"}
    perm = int(line["orders"]["P"]["venue_refs"]["perm_id"])
    traders.kill(first)
    assert tws.wait_connected_clients(0)
    tws.fill_order(perm, 100)  # nobody listens
    lost = tws.restart(next_valid_id=1, forget=True)
    assert {o["order_ref"] for o in lost} == {"W", "P"}
    _, line = traders.run("--report")
    orders = line["orders"]
    assert orders["W"]["status"] == "SUBMITTED" and orders["W"]["unknown"]
    assert orders["P"]["status"] == "PARTIALLY_FILLED" and orders["P"]["unknown"]
    assert orders["P"]["fills"] == [e["exec_id"] for e in tws.executions]
    reasons = {cid: [r for kind, c, r in line["events"] if c == cid and kind ==
                     "unknown_outcome"] for cid in ("W", "P")}
    assert all(any("TWS lost its record" in r for r in rs) for rs in reasons.values()), reasons
    assert not any(o["reason"] and "never received" in o["reason"] for o in orders.values())
    assert tws.stats().get("error_103", 0) == 0
