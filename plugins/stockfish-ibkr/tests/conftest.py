"""Fixtures for the IBKR connector tests: a fake TWS per test and connectors pointed at it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fixtures import connector_factory, fresh_plugins, live_session, router  # noqa: F401 - fixtures
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.raw_client import RawClient

BACKENDS = ("ib_insync", "ib_async")


@pytest.fixture(autouse=True)
def _quiet_ib_logs() -> None:
    # ib_insync logs every order event at INFO and rejected orders at ERROR.
    for name in ("ib_insync", "ib_async"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@pytest.fixture
def tws() -> Iterator[FakeTWS]:
    venue = FakeTWS(tick_interval=0.02, bar_interval=0.2)
    venue.start()
    yield venue
    venue.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_connector(tws: FakeTWS, router: DataFeedRouter,
                   backend: str) -> Iterator[Callable[..., IBKRConnector]]:
    with connector_factory(IBKRConnector, router, port=tws.port, backend=backend,
                           heartbeat_interval=1.0, connect_timeout=3.0,
                           reconnect_initial_delay=0.05, reconnect_max_delay=0.5,
                           request_timeout=5.0) as make:
        yield make


@pytest.fixture
def live(make_connector: Callable[..., IBKRConnector],
         router: DataFeedRouter) -> Iterator[tuple[IBKRConnector, Recorder]]:
    yield from live_session(make_connector(), router)


@pytest.fixture
def main_loop() -> Iterator[None]:
    # The raw clients' sync API runs on the main thread's event loop; asyncio.run() in an
    # earlier test leaves the main thread with none.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def raw(backend: str, main_loop: None) -> Iterator[Callable[..., RawClient]]:
    """``raw(port, client_id=7)``: a connected raw client of this test's backend."""
    made: list[RawClient] = []

    def make(port: int, client_id: int = 7) -> RawClient:
        client = RawClient(backend, port, client_id)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
