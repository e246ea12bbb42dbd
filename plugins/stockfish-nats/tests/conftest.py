from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_core.testing.fixtures import fresh_plugins, router  # noqa: F401 - fixtures

pytest.importorskip("stockfish_nats")
pytest.importorskip("nats")
from stockfish_nats.testing import NatsServer
from stockfish_nats.testing.processes import ChildProcess


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, dict[str, Any]], str]:
    def write(name: str, data: dict[str, Any]) -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return str(path)

    return write


@pytest.fixture
def processes() -> Iterator[list[ChildProcess]]:
    """Children a test starts; every one still running at the end is killed by its pid."""
    started: list[ChildProcess] = []
    yield started
    for child in reversed(started):
        child.kill()


@pytest.fixture
def gateway(nats_server: NatsServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An in-process gateway ``gw`` serving one in-process sim venue as connector ``simv``."""
    from stockfish_core.manager import ExchangeManager
    from stockfish_core.testing.waiting import wait_until
    from stockfish_nats.gateway import Gateway
    from stockfish_nats.serve import load_gateway_settings

    venue = f"v-{request.node.name}"[:60]
    manager = ExchangeManager.from_config({
        "connectors": {"simv": {"type": "sim", "venue": venue, "tick_interval": 0.01}},
        "manager": {"journal": "memory", "stop_timeout": 3.0}})
    gw = Gateway(manager, load_gateway_settings({}, env={}, servers=[nats_server.url],
                                                gateway="gw", instance="a", lease_ttl=2.0))
    gw.start()
    assert wait_until(lambda: gw.sessions["simv"].state == "holding", 10)
    yield gw
    gw.stop()
    from stockfish_core.sim_venue import SimVenue

    SimVenue.get(venue).stop()


@pytest.fixture
def make_remote(nats_server: NatsServer) -> Iterator[Callable[..., Any]]:
    """``make_remote(client_id="s1", journal=...)``: a manager with one ``nats`` connector
    ``remote`` to the ``gateway`` fixture, started."""
    from stockfish_core.manager import ExchangeManager

    made: list[Any] = []

    def make(client_id: str = "s1", journal: str = "memory", **settings: Any) -> Any:
        manager = ExchangeManager.from_config({
            "connectors": {"remote": {"type": "nats", "servers": [nats_server.url],
                                      "gateway": "gw", "connectors": ["simv"],
                                      "client_id": client_id, "heartbeat_interval": 0.5,
                                      "reconnect_initial_delay": 0.05,
                                      "reconnect_max_delay": 0.2, **settings}},
            "manager": {"journal": journal, "stop_timeout": 3.0}})
        made.append(manager)
        assert manager.start_all(timeout=10)
        return manager

    yield make
    for manager in made:
        manager.close()
