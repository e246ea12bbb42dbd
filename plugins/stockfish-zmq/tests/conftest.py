from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fixtures import connector_factory, fresh_plugins, router  # noqa: F401 - fixtures

pytest.importorskip("stockfish_zmq")
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.testing import SimPublisher


@pytest.fixture
def publisher() -> Iterator[SimPublisher]:
    pub = SimPublisher(("BTCUSD", "ETHUSD"), copies=2)
    pub.start()
    yield pub
    pub.stop()


@pytest.fixture
def make_connector(publisher: SimPublisher, router: DataFeedRouter
                   ) -> Iterator[Callable[..., ZMQConnector]]:
    with connector_factory(ZMQConnector, router, close_timeout=3.0,
                           endpoints=publisher.endpoints, connect_timeout=3.0,
                           reconnect_initial_delay=0.05, reconnect_max_delay=0.2) as make:
        yield make


@pytest.fixture
def live(make_connector: Callable[..., ZMQConnector], publisher: SimPublisher,
         router: DataFeedRouter) -> Iterator[tuple[ZMQConnector, Recorder]]:
    """A connected connector subscribed to every symbol, publisher attached on both ends."""
    connector = make_connector(gap_timeout=0.2)
    recorder = Recorder(connector, router)
    assert connector.connect()
    connector.subscribe_price("*")
    connector.subscribe_orderbook("*", 3)
    assert publisher.wait_subscribers(1, 5)
    yield connector, recorder
    recorder.close()
