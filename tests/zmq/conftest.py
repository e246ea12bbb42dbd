from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder

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
def router() -> DataFeedRouter:
    return DataFeedRouter()


@pytest.fixture
def make_connector(publisher: SimPublisher, router: DataFeedRouter
                   ) -> Iterator[Callable[..., ZMQConnector]]:
    made: list[ZMQConnector] = []

    def make(**settings: Any) -> ZMQConnector:
        settings.setdefault("endpoints", publisher.endpoints)
        settings.setdefault("connect_timeout", 3.0)
        settings.setdefault("reconnect_initial_delay", 0.05)
        settings.setdefault("reconnect_max_delay", 0.2)
        connector = ZMQConnector(router, **settings)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close(timeout=3)


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
