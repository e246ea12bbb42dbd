"""Plugin entry point of ``stockfish-nats`` (cheap to import: no nats-py here).

Registers the ``nats`` connector type (a gateway reached over NATS) and the
``stockfish-rt serve`` command (run a gateway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockfish_core.capabilities import Capabilities
from stockfish_core.enums import DataType, OrderType
from stockfish_core.hookspecs import hookimpl
from stockfish_core.registry import ConnectorType, connector_types

from stockfish_nats.settings import NatsSettings

__all__ = ["CAPABILITIES"]

CAPABILITIES = Capabilities(data_types=frozenset(DataType), order_types=frozenset(OrderType),
                            supports_replace=True)

stockfish_register_connectors = connector_types(ConnectorType(
    name="nats", connector_class="stockfish_nats.remote:NatsConnector",
    settings_class=NatsSettings,
    description="A gateway's venue sessions over NATS JetStream (stockfish-rt serve)",
    capabilities=CAPABILITIES, install_hint="pip install stockfish-nats"))


@hookimpl
def stockfish_cli_commands(register: Callable[..., Any]) -> None:
    """``stockfish-rt serve CONFIG --bus nats://...``: run a gateway."""
    from stockfish_nats import serve

    register("serve", serve.add_arguments, serve.main,
             help="run a gateway: the configured connectors, on a NATS bus")
