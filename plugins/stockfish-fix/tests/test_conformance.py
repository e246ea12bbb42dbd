"""The core's connector conformance kit against the simulated FIX venue, per FIX version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core.orders import Order, OrderSide
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import ConnectorConformance
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST


class _FIXConformance(ConnectorConformance):
    symbols = ("AAA", "BBB")
    unknown_symbol = "UNKNOWNSYM"
    version = "FIX44"

    @pytest.fixture
    def venue(self, test_dictionaries: str) -> Iterator[FIXVenue]:
        venue = FIXVenue(version=self.version, tick_interval=0.02,
                         data_dictionary=test_dictionaries)
        venue.start()
        yield venue
        venue.stop()

    def make_connector(self, venue: FIXVenue, router: DataFeedRouter) -> FIXConnector:
        entry = venue.config_entry()
        entry.pop("type")
        return FIXConnector(router, **{**entry, **FAST})

    def drop_connection(self, venue: FIXVenue, connector: FIXConnector) -> None:
        assert venue.drop_connections() >= 1

    def send_bad_input(self, venue: FIXVenue, connector: FIXConnector) -> None:
        assert venue.send_malformed() > 0

    def partial_fill_order(self) -> Order | None:
        return Order(self.symbols[0], OrderSide.BUY, 250)  # the venue fills 100 per tick


class TestFIX42Conformance(_FIXConformance):
    version = "FIX42"


class TestFIX44Conformance(_FIXConformance):
    version = "FIX44"


class TestFIX50SP2Conformance(_FIXConformance):
    version = "FIX50SP2"
