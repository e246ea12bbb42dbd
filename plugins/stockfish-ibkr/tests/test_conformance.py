"""The core's connector conformance kit against the fake TWS, with each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stockfish_core.orders import Order, OrderSide
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import ConnectorConformance
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.testing import FakeTWS


class _IBKRConformance(ConnectorConformance):
    symbols = ("SPY", "QQQ")
    unknown_symbol = "UNKNOWNSYM"
    backend = "ib_insync"

    @pytest.fixture
    def venue(self) -> Iterator[FakeTWS]:
        tws = FakeTWS(tick_interval=0.02)
        tws.start()
        yield tws
        tws.stop()

    def make_connector(self, venue: FakeTWS, router: DataFeedRouter) -> IBKRConnector:
        return IBKRConnector(router, port=venue.port, backend=self.backend,
                             heartbeat_interval=1.0, connect_timeout=3.0,
                             reconnect_initial_delay=0.05, reconnect_max_delay=0.5)

    def drop_connection(self, venue: FakeTWS, connector: IBKRConnector) -> None:
        venue.drop_connections()

    def send_bad_input(self, venue: FakeTWS, connector: IBKRConnector) -> None:
        venue.send_garbage()

    def partial_fill_order(self) -> Order | None:
        return Order(self.symbols[0], OrderSide.BUY, 250)  # the fake fills 100 per tick


class TestIBInsyncConformance(_IBKRConformance):
    backend = "ib_insync"


class TestIBAsyncConformance(_IBKRConformance):
    backend = "ib_async"
