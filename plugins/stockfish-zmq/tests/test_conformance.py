"""The ZMQ connector passes the core conformance kit against the simulated publisher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stockfish_core.connector import BaseConnector
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import ConnectorConformance
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.testing import SimPublisher


class TestZMQConformance(ConnectorConformance):
    symbols = ("BTCUSD", "ETHUSD")
    unknown_symbol = "DOGEUSD"  # the connector is told which symbols the feed carries

    @pytest.fixture
    def venue(self) -> Iterator[SimPublisher]:
        publisher = SimPublisher(self.symbols, copies=2)
        publisher.start()
        publisher.stream(rate=300.0, duration=60.0)
        yield publisher
        publisher.stop()

    def make_connector(self, venue: SimPublisher, router: DataFeedRouter) -> BaseConnector:
        return ZMQConnector(router, endpoints=venue.endpoints, symbols=self.symbols,
                            connect_timeout=3.0, reconnect_initial_delay=0.05,
                            reconnect_max_delay=0.2, gap_timeout=0.2)

    def drop_connection(self, venue: SimPublisher, connector: BaseConnector) -> None:
        venue.restart()

    def send_bad_input(self, venue: SimPublisher, connector: Any) -> None:
        venue.send_raw(b"BTCUSD", b'{"type": "ticker", "symbol": "BTCUSD", "sequence": -4}')
