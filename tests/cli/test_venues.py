"""`stockfish-rt venues` and the venue runners (`python -m stockfish_fix.testing`,
`python -m stockfish_zmq.testing`) as a user runs them: fixed ports, a configuration that
`stockfish-rt run` takes, a clean stop on SIGINT / SIGTERM, a closed standard input."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml
from stockfish_core.config import load_config

from tests.support.processes import Child, free_port_pair, free_ports, stockfish_rt

pytest.importorskip("stockfish_fix")
pytest.importorskip("stockfish_ibkr")
pytest.importorskip("stockfish_zmq")

START_S = 60.0  # a loaded 2-core machine imports quickfix and binds in a few seconds
STOP_S = 30.0


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.close()


def _venues(children: list[Child], *args: str, stdin: int | None = subprocess.DEVNULL) -> Child:
    child = Child(stockfish_rt("venues", *args), stdin=stdin)
    children.append(child)
    return child


def _config(child: Child) -> dict:
    assert child.wait_line("health_check_interval", START_S), \
        "\n".join(child.out + child.err)
    return yaml.safe_load("\n".join(child.out))


def test_fixed_ports_a_runnable_configuration_and_a_clean_sigterm(
        children: list[Child], fresh_plugins: None) -> None:
    fix_port, tws_port = free_ports(2)
    zmq_port = free_port_pair()
    args = ("--fix-port", str(fix_port), "--tws-port", str(tws_port),
            "--zmq-port", str(zmq_port), "--only", "fix,ibkr", "--only", "zmq")
    venues = _venues(children, *args)
    config = _config(venues)
    connectors = config["connectors"]
    assert set(connectors) == {"fix", "ibkr", "zmq"}
    assert connectors["fix"]["port"] == fix_port
    assert connectors["ibkr"]["port"] == tws_port
    assert connectors["zmq"]["endpoints"] == [f"tcp://127.0.0.1:{zmq_port}",
                                              f"tcp://127.0.0.1:{zmq_port + 1}"]
    assert set(load_config(config, env={}).connectors) == {"fix", "ibkr", "zmq"}
    assert venues.wait_line("3 venue(s) serving", START_S, "err")
    venues.signal(signal.SIGTERM)
    assert venues.wait_exit(STOP_S) == 0, "\n".join(venues.err)
    assert any("stopped" in line for line in venues.err)
    # Restarted on the same ports: what a running `stockfish-rt run` reconnects to. Its
    # standard input closed at once: it goes on serving.
    again = _venues(children, *args, stdin=subprocess.PIPE)
    assert again.proc.stdin is not None
    again.proc.stdin.close()
    assert _config(again)["connectors"]["ibkr"]["port"] == tws_port
    with socket.create_connection(("127.0.0.1", tws_port), timeout=10):
        pass
    assert again.wait_exit(1.0) is None, "stopped when standard input closed"
    again.signal(signal.SIGINT)  # after `import quickfix`: still a clean stop
    assert again.wait_exit(STOP_S) == 0, "\n".join(again.err)


def test_a_port_in_use_is_reported_and_the_others_start(children: list[Child]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (zmq_port,) = [free_port_pair()]
        venues = _venues(children, "--tws-port", str(port), "--zmq-port", str(zmq_port),
                         "--only", "ibkr,zmq")
        config = _config(venues)
        assert set(config["connectors"]) == {"zmq"}
        assert any(f"ibkr: cannot start on 127.0.0.1:{port}" in line for line in venues.err)
        venues.signal(signal.SIGTERM)
        assert venues.wait_exit(STOP_S) == 0


def test_unknown_venue_names_are_refused(children: list[Child]) -> None:
    venues = _venues(children, "--only", "fix,nope")
    assert venues.wait_exit(START_S) == 2
    assert any("no simulated venue named nope" in line for line in venues.err)


def test_fix_runner_keeps_its_port_ignores_stdin_and_stops_on_sigint(
        children: list[Child]) -> None:
    (port,) = free_ports(1)
    runner = Child([sys.executable, "-m", "stockfish_fix.testing", "--port", str(port)],
                   stdin=subprocess.PIPE)
    children.append(runner)
    assert runner.wait_line('"type": "fix"', START_S), "\n".join(runner.err)
    assert json.loads(runner.out[0])["port"] == port
    assert runner.proc.stdin is not None
    runner.proc.stdin.close()  # a closed standard input does not stop it
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass
    assert runner.wait_exit(1.0) is None, "stopped when standard input closed"
    runner.signal(signal.SIGINT)
    assert runner.wait_exit(STOP_S) == 0, "\n".join(runner.err)


def test_zmq_runner_publishes_on_fixed_ports(children: list[Child]) -> None:
    import zmq

    port = free_port_pair()
    runner = Child([sys.executable, "-m", "stockfish_zmq.testing", "--port", str(port),
                    "--copies", "2", "--symbols", "AAA", "--rate", "100"])
    children.append(runner)
    assert runner.wait_line('"type": "zmq"', START_S), "\n".join(runner.err)
    entry = json.loads(runner.out[0])
    assert entry["endpoints"] == [f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port + 1}"]
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 10_000)
    try:
        sub.connect(entry["endpoints"][1])
        frames = sub.recv_multipart()
    finally:
        sub.close()
    message = json.loads(frames[-1])
    assert message["symbol"] == "AAA" and message["type"] in ("ticker", "depth", "trade")
    runner.signal(signal.SIGTERM)
    assert runner.wait_exit(STOP_S) == 0


def test_zmq_runner_reports_a_port_in_use(children: list[Child]) -> None:
    port = free_port_pair()
    first = Child([sys.executable, "-m", "stockfish_zmq.testing", "--port", str(port)])
    children.append(first)
    assert first.wait_line('"type": "zmq"', START_S)
    second = Child([sys.executable, "-m", "stockfish_zmq.testing", "--port", str(port)])
    children.append(second)
    assert second.wait_exit(START_S) == 1
    assert any(f"cannot bind 127.0.0.1:{port}" in line for line in second.err)
    assert not any("Traceback" in line for line in second.err)
    first.signal(signal.SIGTERM)
    assert first.wait_exit(STOP_S) == 0
