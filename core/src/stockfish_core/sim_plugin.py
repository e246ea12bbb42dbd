"""The built-in ``sim`` plugin: what discovery needs (settings, capabilities, hooks), kept
light. The connector itself is in :mod:`stockfish_core.sim`, imported when one is created."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType
from stockfish_core.registry import ConnectorType, connector_types, simulated_venues
from stockfish_core.settings import ConnectorSettings, non_negative, positive

__all__ = ["CAPABILITIES", "SimSettings"]

CAPABILITIES = Capabilities(
    data_types=frozenset(DataType),
    order_types=frozenset(OrderType),
    supports_replace=False,
)


@attrs.frozen(kw_only=True)
class SimSettings(ConnectorSettings):
    """Settings of the ``sim`` connector.

    ``venue`` names the in-process venue (connectors naming the same venue share it);
    ``address`` (``host:port``), when set, reaches a venue in another process instead
    (``python -m stockfish_core.sim_remote`` or ``stockfish-rt venues``);
    ``seed`` seeds its random walk; ``tick_interval`` (s) paces its data; ``latency`` (s)
    delays its order acknowledgements; ``listed`` restricts the symbols it lists (empty:
    any well-formed symbol not starting with ``UNKNOWN``); ``top_size`` is the size at the
    touch, so larger orders fill partially over several ticks.
    """

    venue: str = "sim"
    address: str = ""
    seed: int = 0
    tick_interval: float = attrs.field(default=0.02, validator=positive)
    latency: float = attrs.field(default=0.0, validator=non_negative)
    listed: tuple[str, ...] = ()
    top_size: float = attrs.field(default=100.0, validator=non_negative)
    heartbeat_interval: float = attrs.field(default=1.0, validator=positive)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {}


class _SimDemoVenue:
    """A ``sim`` venue for ``stockfish-rt demo``, ``stockfish-rt venues`` and integration
    tests: in this process, or (``port`` given; 0 = a free one) behind a socket that other
    processes reach through the connector's ``address`` setting."""

    def __init__(self, name: str = "sim", seed: int = 0, tick_interval: float = 0.02,
                 port: int | None = None, **settings: Any) -> None:
        self.name = name
        self.seed = seed
        self.tick_interval = tick_interval
        self.port = port
        self.settings = settings
        self.venue: Any = None
        self.server: Any = None

    def start(self) -> dict[str, Any]:
        from stockfish_core.sim_venue import SimVenue

        self.venue = SimVenue.get(self.name, seed=self.seed, tick_interval=self.tick_interval)
        if self.port is not None:
            from stockfish_core.sim_remote import VenueServer

            self.server = VenueServer(self.venue, self.port)
            return {"type": "sim", "address": self.server.address, **self.settings}
        return {"type": "sim", "venue": self.name, "seed": self.seed,
                "tick_interval": self.tick_interval, **self.settings}

    @property
    def symbols(self) -> tuple[str, ...]:
        return ("SPY", "QQQ", "AAPL")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.venue is not None:
            self.venue.stop()

    def drop_connections(self) -> None:
        if self.venue is not None:
            self.venue.drop()


stockfish_register_connectors = connector_types(ConnectorType(
    name="sim", connector_class="stockfish_core.sim:SimConnector",
    settings_class=SimSettings,
    description="In-process paper venue: random-walk data, fills, fault injection",
    capabilities=CAPABILITIES, install_hint="built into stockfish-core"))

stockfish_simulated_venues = simulated_venues(sim=_SimDemoVenue)
