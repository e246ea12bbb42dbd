"""Plugin entry point of ``stockfish-example-rest`` (cheap to import)."""

from __future__ import annotations

from typing import Any

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType, TimeInForce
from stockfish_core.hookspecs import hookimpl

from stockfish_example_rest.settings import RestSettings

__all__ = ["CAPABILITIES"]

CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT}),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
)


@hookimpl
def stockfish_register_connectors(register: Any) -> None:
    from stockfish_core.plugins import ConnectorType

    register(ConnectorType(
        name="rest", connector_class="stockfish_example_rest.connector:RestConnector",
        settings_class=RestSettings,
        description="Example: a polling HTTP JSON venue (quotes, books, orders)",
        capabilities=CAPABILITIES,
        install_hint="python -m pip install ./examples/stockfish-example-rest in a "
                     "stockfish-rt checkout"))


@hookimpl
def stockfish_simulated_venues(register: Any) -> None:
    from stockfish_example_rest.testing import RestVenue

    register("rest", RestVenue)
