"""Plugin entry point of ``stockfish-example-rest`` (cheap to import)."""

from __future__ import annotations

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType, TimeInForce
from stockfish_core.registry import ConnectorType, connector_types, simulated_venues

from stockfish_example_rest.settings import RestSettings

__all__ = ["CAPABILITIES"]

CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT}),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
)


stockfish_register_connectors = connector_types(ConnectorType(
    name="rest", connector_class="stockfish_example_rest.connector:RestConnector",
    settings_class=RestSettings,
    description="Example: a polling HTTP JSON venue (quotes, books, orders)",
    capabilities=CAPABILITIES,
    install_hint="python -m pip install ./examples/stockfish-example-rest in a "
                 "stockfish-rt checkout"))

stockfish_simulated_venues = simulated_venues(
    rest="stockfish_example_rest.testing:RestVenue")
