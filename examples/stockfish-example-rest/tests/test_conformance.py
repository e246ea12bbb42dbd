"""The core's conformance kit against the simulated REST venue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core.orders import Order, OrderSide
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import ConnectorConformance
from stockfish_example_rest.connector import RestConnector
from stockfish_example_rest.testing import RestVenue


class TestRestConformance(ConnectorConformance):
    symbols = ("AAA", "BBB")
    unknown_symbol = "UNKNOWNSYM"

    @pytest.fixture
    def venue(self) -> Iterator[RestVenue]:
        venue = RestVenue(self.symbols, tick_interval=0.02, outage=0.3)
        venue.start()
        yield venue
        venue.stop()

    def make_connector(self, venue: RestVenue, router: DataFeedRouter) -> RestConnector:
        return RestConnector(router, port=venue.port, poll_interval=0.02, request_timeout=1.0,
                             heartbeat_interval=1.0, reconnect_initial_delay=0.05,
                             reconnect_max_delay=0.5)

    def drop_connection(self, venue: RestVenue, connector: RestConnector) -> None:
        venue.drop_connections()

    def send_bad_input(self, venue: RestVenue, connector: RestConnector) -> None:
        venue.send_garbage()

    def partial_fill_order(self) -> Order | None:
        return Order(self.symbols[0], OrderSide.BUY, 250)  # the venue fills 100 per tick
