"""Plugin entry point of ``stockfish-zmq`` (cheap to import: no pyzmq here)."""

from __future__ import annotations

import math
from typing import Any

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType
from stockfish_core.registry import ConnectorType, connector_types, simulated_venues

from stockfish_zmq.settings import ZMQSettings

__all__ = ["CAPABILITIES", "PublisherVenue"]

DIST = "stockfish-zmq"

CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE,
                          DataType.CUSTOM}),
    order_types=frozenset(),
    data_only=True,
)


class PublisherVenue:
    """A simulated ZeroMQ publisher for ``stockfish-rt demo``, ``stockfish-rt venues`` and
    integration tests, streaming until :meth:`stop`. ``port`` (0: free ones) is the first
    endpoint's; a redundant feed's second copy is on ``port + 1``."""

    symbols = ("BTCUSD", "ETHUSD")

    def __init__(self, rate: float = 200.0, redundant: bool = True, port: int = 0,
                 **options: Any) -> None:
        self.rate = rate
        self.redundant = redundant
        self.port = port
        self.options = options
        self.publisher: Any = None

    def start(self) -> dict[str, Any]:
        from stockfish_zmq.testing import SimPublisher

        copies = 2 if self.redundant else 1
        self.publisher = SimPublisher(symbols=self.symbols, copies=copies, **self.options)
        self.publisher.start(tuple(range(self.port, self.port + copies)) if self.port else ())
        self.publisher.stream(rate=self.rate, duration=math.inf)
        return {"type": "zmq", "endpoints": list(self.publisher.endpoints),
                "heartbeat_interval": 1.0, "connect_timeout": 5.0}

    def stop(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()

    def drop_connections(self) -> None:
        """Restart the publisher sockets on the same ports: subscribers see a disconnect."""
        if self.publisher is not None:
            self.publisher.restart()


stockfish_register_connectors = connector_types(ConnectorType(
    name="zmq", connector_class="stockfish_zmq.connector:ZMQConnector",
    settings_class=ZMQSettings,
    description="ZeroMQ JSON market-data feeds: sequencing, gap detection, redundancy",
    capabilities=CAPABILITIES,
    install_hint=f"python -m pip install ./plugins/{DIST} in a stockfish-rt checkout, "
                 f"or --find-links dist {DIST} (wheels of scripts/build_wheels.sh)"))

stockfish_simulated_venues = simulated_venues(zmq=PublisherVenue)
