"""`stockfish-rt run` off a terminal (plain periodic lines) and its metrics options, with
the built-in `sim` venues; the terminal view itself is driven in tests/cli."""

from __future__ import annotations

import logging
import re
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import pytest
from stockfish_core.manager import ExchangeManager
from stockfish_core.status_view import LiveState, StatusView, ViewLogHandler

from tests.support.processes import Child, free_ports, stockfish_rt

CONFIG = """\
connectors:
  paper:
    type: sim
    primary: true
    venue: {venue}-paper
  backup:
    type: sim
    venue: {venue}-backup
    seed: 2
manager:
  failover_strategy: primary_backup
  health_check_interval: 1
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG.format(venue=tmp_path.name), encoding="utf-8")
    return path


def test_plain_lines_rates_quotes_and_failed_subscriptions(tmp_path: Path) -> None:
    child = Child(stockfish_rt("run", str(_config(tmp_path)), "--symbols", "SPY",
                               "UNKNOWN_X", "--duration", "3", "--interval", "0.5"))
    try:
        assert child.wait_exit(60) == 0, "\n".join(child.err)
    finally:
        child.close()
    out = child.out
    rates = [int(m.group(1).replace(",", "")) for line in out
             if (m := re.search(r"\] paper\* \(sim\) CONNECTED: ([\d,]+) upd/s", line))]
    assert rates and max(rates) > 0, out
    # The first block drawn after connecting has a rate already (counted from the start).
    first_quotes = next(i for i, line in enumerate(out) if "SPY@paper" in line)
    header = max(i for i, line in enumerate(out[:first_quotes]) if "| up " in line)
    first_rates = [int(m.group(1).replace(",", "")) for line in out[header:first_quotes]
                   if (m := re.search(r"CONNECTED: ([\d,]+) upd/s", line))]
    assert any(rate > 0 for rate in first_rates), out[header:first_quotes]
    assert any(re.search(r"SPY@paper bid [\d,.]+ ask [\d,.]+ last [\d,.]+ age \d+\.\ds",
                         line) for line in out)
    failed = [line for line in out if "SUBSCRIPTION FAILED" in line]
    assert sorted(line.split("FAILED ")[1].split(":")[0] for line in failed) == [
        "backup UNKNOWN_X", "paper UNKNOWN_X"], "each failure is shown once"
    assert any("subs 1 (1 failed)" in line for line in out)


def test_a_bad_configuration_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("connectors:\n  sim:\n    seed: x\n    latency: y\n", encoding="utf-8")
    child = Child(stockfish_rt("run", str(path)))
    try:
        assert child.wait_exit(60) == 1
    finally:
        child.close()
    assert child.err[1:3] == ["  line 3    connectors.sim.seed: expected an int, got 'x'",
                              "  line 4    connectors.sim.latency: expected a number, got 'y'"]


def test_metrics_port_in_use_is_refused_before_connecting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        child = Child(stockfish_rt("-v", "run", str(_config(tmp_path)), "--metrics-port",
                                   str(port), "--duration", "5"))
        try:
            assert child.wait_exit(60) == 1
        finally:
            child.close()
    assert any(f"cannot serve metrics on 127.0.0.1:{port}" in line for line in child.err)
    assert not any("CONNECTING" in line or "Traceback" in line for line in child.err), \
        child.err


def test_metrics_extra_missing_is_refused_before_connecting(tmp_path: Path) -> None:
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'prometheus_client':\n"
               "            raise ImportError('not installed')\n"
               "sys.meta_path.insert(0, Block())\n"
               "from stockfish_core.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    (port,) = free_ports(1)
    child = Child([sys.executable, "-c", blocker, "-v", "run", str(_config(tmp_path)),
                   "--metrics-port", str(port), "--duration", "5"])
    try:
        assert child.wait_exit(60) == 1
    finally:
        child.close()
    assert any("pip install 'stockfish-core[metrics]'" in line for line in child.err)
    assert not any("CONNECTING" in line or "Traceback" in line for line in child.err)


def test_metrics_host_option_serves_while_running(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    (port,) = free_ports(1)
    child = Child(stockfish_rt("run", str(_config(tmp_path)), "--symbols", "SPY",
                               "--metrics-port", str(port), "--metrics-host", "localhost",
                               "--duration", "30"))
    try:
        assert child.wait_line("| up ", 60)
        assert child.wait_for(lambda: any("SPY@paper" in line for line in child.out), 30)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        text = body.decode()
        assert 'stockfish_connector_up{connector="paper",type="sim"} 1.0' in text
        assert "process_resident_memory_bytes" in text
        assert re.search(r'stockfish_updates_total\{connector="backup",data_type="price_tick"'
                         r',type="sim"\} [1-9]', text)
        child.signal(signal.SIGTERM)
    finally:
        child.close()


def test_library_records_are_left_out_of_the_view(fresh_plugins: None) -> None:
    manager = ExchangeManager.from_config(
        {"connectors": {"paper": {"type": "sim", "venue": "view-logs"}}})
    state = LiveState(manager)
    handler = ViewLogHandler(state)
    logger = logging.getLogger("view-test")
    for name, text in (("ib_insync.wrapper", "Error 200, reqId 3: No security definition"),
                       ("stockfish_ibkr.connector", "ibkr: IB error 200 on AAA"),
                       ("stockfish_ibkr.connector", "ibkr: IB error 200 on AAA")):
        record = logger.makeRecord(name, logging.WARNING, __file__, 1, text, (), None)
        handler.handle(record)
    _, logs = state.recent()
    assert len(logs) == 1 and logs[0].endswith("ibkr: IB error 200 on AAA (x2)")
    everything = ViewLogHandler(state, everything=True)
    everything.handle(logger.makeRecord("ib_insync.wrapper", logging.ERROR, __file__, 1,
                                        "Error 200", (), None))
    assert state.recent()[1][-1].endswith("ib_insync.wrapper: Error 200")


def test_the_view_shows_a_reconnecting_connector_with_its_reason(fresh_plugins: None) -> None:
    from stockfish_core.testing import wait_until

    manager = ExchangeManager.from_config({"connectors": {"paper": {
        "type": "sim", "venue": "view-reason", "reconnect_initial_delay": 0.2,
        "reconnect_max_delay": 0.5}}})
    state = LiveState(manager)
    state.attach()
    try:
        assert manager.start_all()
        connector = manager.get_connector("paper")
        connector.venue.refuse_connections(30.0)  # type: ignore[attr-defined]
        connector.venue.drop()  # type: ignore[attr-defined]
        assert wait_until(lambda: connector.status.value == "RECONNECTING", 10)
        row = next(r for r in state.connector_rows() if r[0].startswith("paper"))
        assert row[2] == "RECONNECTING" and row[3], row
        lines: list[str] = []

        class Out:
            def write(self, text: str) -> None:
                lines.append(text)

            def flush(self) -> None:
                pass

        StatusView(manager, out=Out(), use_rich=False, state=state).frame()  # type: ignore[arg-type]
        assert f"RECONNECTING ({row[3]})" in "".join(lines)
    finally:
        state.detach()
        manager.stop_all()


def test_the_view_shows_failovers_and_order_events(fresh_plugins: None) -> None:
    from stockfish_core.orders import Order, OrderSide, OrderStatus
    from stockfish_core.testing import wait_until

    manager = ExchangeManager.from_config({
        "connectors": {"a": {"type": "sim", "venue": "view-a", "primary": True,
                             "reconnect_initial_delay": 0.2},
                       "b": {"type": "sim", "venue": "view-b"}},
        "manager": {"failover_strategy": "primary_backup", "health_check_interval": 0.5}})
    state = LiveState(manager)
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    view = StatusView(manager, out=Out(), use_rich=False, state=state)  # type: ignore[arg-type]
    state.attach()
    try:
        assert manager.start_all()
        first = Order("SPY", OrderSide.BUY, 5)
        manager.send_order(first)
        assert wait_until(lambda: first.status is OrderStatus.FILLED, 10)
        a = manager.get_connector("a")
        a.venue.refuse_connections(1.0)  # type: ignore[attr-defined]
        a.venue.drop()  # type: ignore[attr-defined]
        assert wait_until(lambda: manager.failovers >= 1, 10)
        view.frame()
        text = "".join(lines)
        assert "ORDER " in text and f"a {first.client_order_id} fill FILLED" in text, text
        assert "FAILOVER " in text and "orders: a -> b" in text, text
        lines.clear()
        view.frame()  # each event is printed once
        assert "FAILOVER" not in "".join(lines) and "ORDER" not in "".join(lines)
    finally:
        state.detach()
        manager.stop_all()
