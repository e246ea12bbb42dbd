"""The plugin contract: pluggy hook specifications of project ``stockfish``.

Hooks are called with keyword arguments and are never on the market-data path.
A plugin module (the target of a ``stockfish.connectors`` entry point) implements any of
them with ``@hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "stockfish"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]


@hookspec
def stockfish_register_connectors(register: Callable[[Any], None]) -> None:
    """Register connector types: call ``register(ConnectorType(...))`` once per type."""


@hookspec
def stockfish_connector_status_changed(
    connector: str, old_status: Any, new_status: Any, reason: str | None
) -> None:
    """A connector's :class:`ConnectorStatus` changed (``reason`` may be ``None``)."""


@hookspec
def stockfish_order_event(event: Any) -> None:
    """An order changed: an :class:`~stockfish_core.orders.OrderEvent` (submitted, status,
    fill, rejected, unknown_outcome, reconciled, ...)."""


@hookspec
def stockfish_failover(decision: Any) -> None:
    """The manager moved order routing or a market-data feed from one connector to another:
    a :class:`~stockfish_core.manager.FailoverDecision`."""


@hookspec
def stockfish_sequence_gap(
    connector: str, symbol: str, first_missing: int, last_missing: int
) -> None:
    """A feed lost the sequence numbers ``first_missing..last_missing`` (inclusive)."""


@hookspec
def stockfish_simulated_venues(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Offer a simulated venue for ``stockfish-rt demo`` and integration tests:
    ``register(name, factory)``, where ``factory(**options)`` returns an object with
    ``start() -> dict`` (start on 127.0.0.1 and return the connector configuration entry,
    ``{"type": ..., **settings}``, that connects to it), ``stop()`` and
    ``drop_connections()`` (fault injection: cut every client connection now)."""


@hookspec
def stockfish_cli_commands(register: Callable[..., None]) -> None:
    """Add subcommands to ``stockfish-rt``: call ``register(name, add_arguments, main,
    help)`` once per command. ``add_arguments(parser)`` declares the command's arguments on
    its ``argparse`` parser and ``main(args) -> int`` runs it. A name already taken (a
    built-in command or another plugin's) is refused with a warning, as is a command whose
    ``add_arguments`` raises; the other commands are still offered."""
