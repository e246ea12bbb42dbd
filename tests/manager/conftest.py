"""Managers over several sim connectors, each on its own in-process venue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.sim import SimConnector

FAST = {"reconnect_initial_delay": 0.02, "reconnect_max_delay": 0.1, "tick_interval": 0.005}


@pytest.fixture
def make_manager() -> Iterator[Callable[..., ExchangeManager]]:
    made: list[ExchangeManager] = []

    def make(names: tuple[str, ...] = ("a", "b"), strategy: str = "primary_backup",
             primary: str | None = "a", data_only: tuple[str, ...] = (),
             arbitration: Any = None, **settings: Any) -> ExchangeManager:
        manager = ExchangeManager(strategy, health_check_interval=0.2, stop_timeout=3.0,
                                  arbitration=arbitration)
        tag = now_ns()
        for name in names:
            connector = SimConnector(name=name, venue=f"{name}-{tag}", **{**FAST, **settings})
            manager.add_connector(connector, name, primary=name == primary,
                                  data_only=name in data_only)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.stop_all()


def venue(manager: ExchangeManager, name: str) -> Any:
    return manager.get_connector(name).venue  # type: ignore[attr-defined]
