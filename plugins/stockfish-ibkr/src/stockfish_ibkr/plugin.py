"""Plugin entry point of ``stockfish-ibkr`` (cheap to import: no ib_insync here)."""

from __future__ import annotations

from typing import Any

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType
from stockfish_core.registry import ConnectorType, connector_types, simulated_venues

from stockfish_ibkr.settings import IBKRSettings

__all__ = ["CAPABILITIES", "FakeTWSVenue"]

DIST = "stockfish-ibkr"

#: What the IBKR connector can do (``IBKRConnector.capabilities``), defined here so that
#: registering the plugin imports no ib_insync.
CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR,
                          DataType.NEWS}),
    order_types=frozenset(OrderType),
    positions=True,
    account=True,
    history=True,
)


class FakeTWSVenue:
    """The fake TWS as a simulated venue for ``stockfish-rt demo``, ``stockfish-rt venues``
    and integration tests, on ``port`` (0: a free one)."""

    def __init__(self, client_id: int = 1, port: int = 0, **options: Any) -> None:
        self.client_id = client_id
        self.port = port
        self.options = options
        self.tws: Any = None

    def start(self) -> dict[str, Any]:
        from stockfish_ibkr.testing import FakeTWS

        self.tws = FakeTWS(client_id=self.client_id, port=self.port, **self.options)
        return self.tws.start()

    def stop(self) -> None:
        if self.tws is not None:
            self.tws.stop()

    def drop_connections(self) -> None:
        if self.tws is not None:
            self.tws.drop_connections()


stockfish_register_connectors = connector_types(ConnectorType(
    name="ibkr", connector_class="stockfish_ibkr.connector:IBKRConnector",
    settings_class=IBKRSettings,
    description="Interactive Brokers TWS / IB Gateway (ib_insync or ib_async)",
    capabilities=CAPABILITIES,
    install_hint=f"python -m pip install ./plugins/{DIST} in a stockfish-rt checkout, "
                 f"or --find-links dist {DIST} (wheels of scripts/build_wheels.sh)"))

stockfish_simulated_venues = simulated_venues(ibkr=FakeTWSVenue)
