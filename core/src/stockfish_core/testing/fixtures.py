"""pytest fixtures and helpers shared by every connector's tests.

Import the fixtures you want into your ``conftest.py``::

    from stockfish_core.testing.fixtures import fresh_plugins, router  # noqa: F401

and build a connector's fixtures with :func:`connector_factory` and :func:`live_session`::

    @pytest.fixture
    def make_connector(venue, router):
        with connector_factory(MyConnector, router, port=venue.port) as make:
            yield make

    @pytest.fixture
    def live(make_connector, router):
        yield from live_session(make_connector(), router)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from stockfish_core import plugins
from stockfish_core.connector import BaseConnector
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing.waiting import Recorder

__all__ = ["connector_factory", "fresh_plugins", "live_session", "router"]

C = TypeVar("C", bound=BaseConnector)


@pytest.fixture
def router() -> DataFeedRouter:
    """A router of its own for the test."""
    return DataFeedRouter()


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin registry loaded anew for this test (no ``STOCKFISH_PLUGINS`` limit) and
    forgotten after it."""
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    with plugins.fresh_registry():
        yield


@contextlib.contextmanager
def connector_factory(cls: type[C], router: DataFeedRouter | None = None,
                      close_timeout: float = 5.0,
                      **defaults: Any) -> Iterator[Callable[..., C]]:
    """``make(**overrides)`` builds connectors of ``cls`` on ``router`` with ``defaults``
    (overridden per call); every connector made is closed when the block ends."""
    made: list[C] = []

    def make(**overrides: Any) -> C:
        connector = cls(router=router, **{**defaults, **overrides})
        made.append(connector)
        return connector

    try:
        yield make
    finally:
        for connector in made:
            connector.close(timeout=close_timeout)


def live_session(connector: C, router: DataFeedRouter) -> Iterator[tuple[C, Recorder]]:
    """Connect ``connector`` (the test fails with its last error if it cannot), yield it with
    a :class:`Recorder` of its updates, statuses and order events, then stop recording.
    Use with ``yield from`` in a fixture."""
    recorder = Recorder(connector, router)
    try:
        assert connector.connect(), connector.get_stats()["last_error"]
        yield connector, recorder
    finally:
        recorder.close()

