"""Plugin entry point of ``stockfish-fix`` (cheap to import: no quickfix here)."""

from __future__ import annotations

import math
from typing import Any

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType
from stockfish_core.registry import ConnectorType, connector_types, simulated_venues

from stockfish_fix.settings import FIXSettings

__all__ = ["CAPABILITIES", "FIXVenueFactory"]

DIST = "stockfish-fix"

# Shared with FIXConnector.capabilities (the connector imports it from here).
CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE}),
    order_types=frozenset(OrderType),
    supports_replace=True,
)


class FIXVenueFactory:
    """The simulated FIX venue for ``stockfish-rt demo``, ``stockfish-rt venues`` and
    integration tests: on ``port`` (0: a free one), serving until :meth:`stop`. quickfix is
    imported only when it starts."""

    def __init__(self, port: int = 0, **options: Any) -> None:
        self.port = port
        self.options = options
        self.venue: Any = None

    def start(self) -> dict[str, Any]:
        from stockfish_fix.testing import FIXVenue

        options = {"max_runtime": math.inf, **self.options}
        self.venue = FIXVenue(port=self.port, **options)
        return self.venue.start()

    def stop(self) -> None:
        if self.venue is not None:
            self.venue.stop()

    def drop_connections(self) -> None:
        if self.venue is not None:
            self.venue.drop_connections()

    @property
    def symbols(self) -> tuple[str, ...]:
        from stockfish_fix.testing.venue import DEFAULT_SYMBOLS

        if self.venue is not None:
            return tuple(self.venue.symbols)
        return tuple(self.options.get("symbols", DEFAULT_SYMBOLS))

    def orders_received_count(self, client_order_id: str) -> int:
        return self.venue.orders_received_count(client_order_id) if self.venue else 0


stockfish_register_connectors = connector_types(ConnectorType(
    name="fix", connector_class="stockfish_fix.connector:FIXConnector",
    settings_class=FIXSettings,
    description="FIX 4.2 / 4.4 / 5.0 SP2 venues over QuickFIX (orders and market data)",
    capabilities=CAPABILITIES,
    install_hint=f"python -m pip install ./plugins/{DIST} in a stockfish-rt checkout, "
                 f"or --find-links dist {DIST} (wheels of scripts/build_wheels.sh)"))

stockfish_simulated_venues = simulated_venues(fix=FIXVenueFactory)
