"""Shared test fixtures: a clean plugin registry and sim venues per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core import plugins
from stockfish_core.sim_venue import SimVenue


@pytest.fixture(autouse=True)
def _fresh_sim_venues() -> Iterator[None]:
    yield
    SimVenue.reset_all()


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin registry loaded anew for this test and forgotten after it."""
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    saved = plugins._registry
    plugins.load_plugins(reload=True)
    yield
    plugins._registry = saved
