"""``stockfish-rt serve``: the command plugins add through ``stockfish_cli_commands``; it
stops cleanly on SIGTERM and SIGINT (the venue logged out, the lease handed back at once),
and refuses bad settings with a clear message."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from stockfish_core.testing.waiting import wait_until
from stockfish_nats.testing.probe import GatewayProbe
from stockfish_nats.testing.processes import gateway_process, venue_process
from stockfish_nats.testing.scenario import gateway_config
from stockfish_nats.testing.venue import VenueRecord

pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stockfish_core.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_gateway_and_hands_the_session_over(
        nats_server, write_yaml, tmp_path, processes, signum):
    venue = venue_process(log_path=str(tmp_path / "venue.log"))
    processes.append(venue)
    address = venue.start()["address"]
    servers = [nats_server.url]
    probe = GatewayProbe(servers, "gw1")
    try:
        first = gateway_process(gateway_config(write_yaml, tmp_path, "a", address), servers,
                                gateway="gw1", instance="a", lease_ttl=20.0,
                                log_path=str(tmp_path / "a.log"))
        processes.append(first)
        first.start()
        assert wait_until(lambda: probe.session_state("a", "simv") == "holding", 15)
        second = gateway_process(gateway_config(write_yaml, tmp_path, "b", address), servers,
                                 gateway="gw1", instance="b", lease_ttl=20.0,
                                 log_path=str(tmp_path / "b.log"))
        processes.append(second)
        second.start()
        assert wait_until(lambda: probe.session_state("b", "simv") == "standby", 15)
        assert first.proc is not None
        first.proc.send_signal(signum)
        started = time.monotonic()
        assert first.wait(20) == 0
        # Handed back, not expired: the standby holds it long before the 20 s TTL.
        assert wait_until(lambda: probe.session_state("b", "simv") == "holding", 10)
        assert time.monotonic() - started < 15
    finally:
        probe.close()
    sessions = VenueRecord(address).session_record()
    assert sessions["max_sessions"] == 1 and sessions["logons"] >= 2


def test_serve_refuses_what_it_cannot_run(write_yaml, tmp_path):
    good = write_yaml("ok.yaml", {"connectors": {"simv": {"type": "sim"}},
                                  "manager": {"journal": str(tmp_path / "j.sqlite3")}})
    no_journal = write_yaml("off.yaml", {"connectors": {"simv": {"type": "sim"}},
                                         "manager": {"journal": "off"}})
    bad = write_yaml("bad.yaml", {"connectors": {"simv": {"type": "sim", "seed": "x"}}})
    result = cli("serve", no_journal, "--bus", "nats://127.0.0.1:1")
    assert result.returncode == 1 and "needs the order journal" in result.stderr
    result = cli("serve", bad, "--bus", "nats://127.0.0.1:1")
    assert result.returncode == 1 and "connectors.simv.seed" in result.stderr
    result = cli("serve", good, "--bus", "http://nowhere")
    assert result.returncode == 1 and "not a NATS server URL" in result.stderr
    result = cli("serve", good, "--bus", "nats://127.0.0.1:1", "--gateway", "a.b")
    assert result.returncode == 1 and "gateway name" in result.stderr
    result = cli("serve", good, "--bus", f"nats://127.0.0.1:{_closed_port()}")
    assert result.returncode == 1 and "cannot reach NATS" in result.stderr


def _closed_port() -> int:
    from stockfish_nats.testing import free_port

    return free_port()


def test_serve_takes_its_credentials_from_a_bus_config_file(write_yaml, tmp_path, processes):
    """``--bus-config`` with ``password: ${VAR}``: the gateway logs in with it, and the
    password appears in no output of the process."""
    from stockfish_nats.permissions import gateway_permissions
    from stockfish_nats.testing import NatsServer

    secret = "s3cr3t-gateway-pw"
    server = NatsServer(users={"gateway": {"password": secret,
                                           "permissions": gateway_permissions("gw1")}}).start()
    probe = None
    try:
        venue = venue_process(log_path=str(tmp_path / "venue.log"))
        processes.append(venue)
        address = venue.start()["address"]
        bus_config = write_yaml("bus.yaml", {"user": "gateway", "password": "${GW_PASSWORD}",
                                             "lease_ttl": 2.0})
        log = tmp_path / "gateway.log"
        gateway = gateway_process(gateway_config(write_yaml, tmp_path, "a", address),
                                  [server.url], gateway="gw1", instance="a",
                                  bus_config=bus_config, env={"GW_PASSWORD": secret},
                                  log_path=str(log))
        processes.append(gateway)
        gateway.start()
        probe = GatewayProbe([server.url], "gw1", user="gateway", password=secret)
        assert wait_until(lambda: probe.session_state("a", "simv") == "holding", 15)
        assert gateway.stop() == 0
        assert secret not in log.read_text()
    finally:
        if probe is not None:
            probe.close()
        server.cleanup()
