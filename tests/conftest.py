"""Shared test fixtures: a clean plugin registry and sim venues per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing.fixtures import fresh_plugins, router  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _fresh_sim_venues() -> Iterator[None]:
    yield
    SimVenue.reset_all()
