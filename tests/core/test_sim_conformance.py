"""The built-in sim connector passes the conformance kit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stockfish_core.connector import BaseConnector
from stockfish_core.orders import Order, OrderSide
from stockfish_core.router import DataFeedRouter
from stockfish_core.sim import SimConnector
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing import ConnectorConformance


class TestSimConformance(ConnectorConformance):
    symbols = ("AAA", "BBB")

    @pytest.fixture
    def venue(self, request: pytest.FixtureRequest) -> Iterator[SimVenue]:
        venue = SimVenue.get(f"conformance-{request.node.name}", seed=7, tick_interval=0.005)
        yield venue
        venue.stop()

    def make_connector(self, venue: SimVenue, router: DataFeedRouter) -> BaseConnector:
        return SimConnector(router=router, venue=venue.name, reconnect_initial_delay=0.02,
                            reconnect_max_delay=0.1)

    def drop_connection(self, venue: SimVenue, connector: BaseConnector) -> None:
        venue.drop()

    def send_bad_input(self, venue: SimVenue, connector: BaseConnector) -> None:
        venue.inject_malformed(4)

    def partial_fill_order(self) -> Any:
        return Order(self.symbols[0], OrderSide.BUY, 250)
