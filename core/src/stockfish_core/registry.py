"""What a plugin registers: connector types and simulated venues, and the two helpers that
make a plugin module's hook implementations in one line each.

A plugin's ``plugin.py``::

    from stockfish_core.registry import ConnectorType, connector_types, simulated_venues

    stockfish_register_connectors = connector_types(ConnectorType(
        name="myvenue", connector_class="stockfish_myvenue.connector:MyConnector",
        settings_class=MySettings, description="...", capabilities=CAPABILITIES,
        install_hint="pip install stockfish-myvenue"))
    stockfish_simulated_venues = simulated_venues(myvenue=MyVenueFactory)

This module is imported at discovery time: it stays light (no connector, no heavy library).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_core.capabilities import Capabilities
from stockfish_core.errors import PluginError
from stockfish_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from stockfish_core.connector import BaseConnector

__all__ = ["ConnectorType", "LazyVenue", "connector_types", "simulated_venues"]


@attrs.frozen
class ConnectorType:
    """A registered kind of connector.

    ``connector_class`` may be the class or a ``"module:Class"`` string so that heavy
    libraries are imported only when a connector is created. ``settings_class`` is an attrs
    class (a :class:`~stockfish_core.settings.ConnectorSettings` subclass) and must be
    cheap to import: the configuration is validated against it.
    """

    name: str
    connector_class: type[BaseConnector] | str
    settings_class: type
    description: str = ""
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    install_hint: str = ""
    plugin: str = ""

    def load_class(self) -> type[BaseConnector]:
        """The connector class (imported now if it was given as ``"module:Class"``)."""
        # Imported here, not at the top: discovery imports this module and must not pay
        # for the connector machinery (threads, models, the order state machine).
        from stockfish_core.connector import BaseConnector

        target = self.connector_class
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"connector type {self.name!r}: cannot load {self.connector_class} "
                    f"({exc}){'; ' + self.install_hint if self.install_hint else ''}"
                ) from exc
        if not (isinstance(target, type) and issubclass(target, BaseConnector)):
            raise PluginError(f"connector type {self.name!r}: {target!r} is not a BaseConnector")
        return target


def connector_types(*types: ConnectorType) -> Callable[..., None]:
    """The ``stockfish_register_connectors`` implementation that registers ``types``."""

    @hookimpl(specname="stockfish_register_connectors")
    def register_connectors(register: Callable[[Any], None]) -> None:
        for ctype in types:
            register(ctype)

    return register_connectors


def simulated_venues(**factories: Callable[..., Any] | str) -> Callable[..., None]:
    """The ``stockfish_simulated_venues`` implementation offering ``name=factory`` pairs.
    A factory given as ``"module:Class"`` is imported only when a venue is made
    (:class:`LazyVenue`)."""

    @hookimpl(specname="stockfish_simulated_venues")
    def register_venues(register: Callable[[str, Callable[..., Any]], None]) -> None:
        for name, factory in factories.items():
            register(name, LazyVenue.factory(factory) if isinstance(factory, str) else factory)

    return register_venues


class LazyVenue:
    """A simulated venue whose class (``"module:Class"``) is imported when it starts, so that
    listing venues never imports a heavy protocol library. ``start()`` returns the venue's
    connector configuration entry; other attributes are the started venue's."""

    def __init__(self, target: str, **options: Any) -> None:
        self.target = target
        self.options = options
        self.venue: Any = None

    @classmethod
    def factory(cls, target: str) -> Callable[..., LazyVenue]:
        def make(**options: Any) -> LazyVenue:
            return cls(target, **options)

        return make

    def start(self) -> dict[str, Any]:
        module_name, _, attr = self.target.partition(":")
        venue_class = getattr(importlib.import_module(module_name), attr)
        self.venue = venue_class(**self.options)
        entry: dict[str, Any] = self.venue.start()
        return entry

    def stop(self) -> None:
        if self.venue is not None:
            self.venue.stop()

    def drop_connections(self) -> None:
        if self.venue is not None:
            self.venue.drop_connections()

    def __getattr__(self, name: str) -> Any:
        venue = self.__dict__.get("venue")
        if venue is None:
            raise AttributeError(f"{name!r}: the venue {self.__dict__.get('target')} is not "
                                 f"started")
        return getattr(venue, name)
