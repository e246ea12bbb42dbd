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
