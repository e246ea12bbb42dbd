"""Stockfish RT core: normalized market data, orders, the connector contract, the plugin
registry and the exchange manager.

Submodules are imported lazily so that ``import stockfish_core`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stockfish_core.__about__ import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time _EXPORTS loads lazily
    from stockfish_core.aio import AsyncExchangeManager
    from stockfish_core.config import load_config
    from stockfish_core.connector import (
        BaseConnector,
        Capabilities,
        ConnectorStatus,
        ReconcileReport,
    )
    from stockfish_core.errors import (
        ConfigError,
        ConnectorError,
        DuplicateOrderIdError,
        JournalError,
        NotConnectedError,
        OrderNotSentError,
        OrderRejectedError,
        PluginError,
        StockfishError,
        SubscriptionError,
        UnknownOrderError,
    )
    from stockfish_core.hookspecs import hookimpl
    from stockfish_core.journal import OrderJournal
    from stockfish_core.manager import ExchangeManager, FailoverStrategy
    from stockfish_core.models import (
        DataType,
        MacroEvent,
        MarketUpdate,
        NewsEvent,
        OHLCVBar,
        OrderBookLevel,
        OrderBookSnapshot,
        PriceTick,
        Trade,
    )
    from stockfish_core.orders import (
        Fill,
        Order,
        OrderEvent,
        OrderSide,
        OrderStatus,
        OrderType,
        TimeInForce,
    )
    from stockfish_core.plugins import (
        ConnectorType,
        create_connector,
        get_connector_type,
        load_plugins,
    )
    from stockfish_core.positions import Position
    from stockfish_core.router import DataFeedRouter, OverflowPolicy
    from stockfish_core.settings import ConnectorSettings, Secret

_EXPORTS = {
    "DataType": "models", "PriceTick": "models", "OrderBookLevel": "models",
    "OrderBookSnapshot": "models", "OHLCVBar": "models", "Trade": "models",
    "NewsEvent": "models", "MacroEvent": "models", "MarketUpdate": "models",
    "OrderSide": "orders", "OrderType": "orders", "TimeInForce": "orders",
    "OrderStatus": "orders", "Order": "orders", "Fill": "orders", "OrderEvent": "orders",
    "BaseConnector": "connector", "ConnectorStatus": "connector", "Capabilities": "connector",
    "ReconcileReport": "connector",
    "DataFeedRouter": "router", "OverflowPolicy": "router",
    "ConnectorSettings": "settings", "Secret": "settings",
    "ConnectorType": "plugins", "create_connector": "plugins",
    "get_connector_type": "plugins", "load_plugins": "plugins",
    "hookimpl": "hookspecs",
    "ExchangeManager": "manager", "FailoverStrategy": "manager",
    "ConfigError": "errors", "ConnectorError": "errors", "NotConnectedError": "errors",
    "OrderRejectedError": "errors", "PluginError": "errors", "StockfishError": "errors",
    "SubscriptionError": "errors", "UnknownOrderError": "errors",
    "load_config": "config",
    "AsyncExchangeManager": "aio", "OrderJournal": "journal", "Position": "positions",
    "DuplicateOrderIdError": "errors", "JournalError": "errors", "OrderNotSentError": "errors",
}

# A literal list: type checkers read it to know what is re-exported.
__all__ = [
    "AsyncExchangeManager",
    "BaseConnector",
    "Capabilities",
    "ConfigError",
    "ConnectorError",
    "ConnectorSettings",
    "ConnectorStatus",
    "ConnectorType",
    "DataFeedRouter",
    "DataType",
    "DuplicateOrderIdError",
    "ExchangeManager",
    "FailoverStrategy",
    "Fill",
    "JournalError",
    "MacroEvent",
    "MarketUpdate",
    "NewsEvent",
    "NotConnectedError",
    "OHLCVBar",
    "Order",
    "OrderBookLevel",
    "OrderBookSnapshot",
    "OrderEvent",
    "OrderJournal",
    "OrderNotSentError",
    "OrderRejectedError",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OverflowPolicy",
    "PluginError",
    "Position",
    "PriceTick",
    "ReconcileReport",
    "Secret",
    "StockfishError",
    "SubscriptionError",
    "TimeInForce",
    "Trade",
    "UnknownOrderError",
    "__version__",
    "create_connector",
    "get_connector_type",
    "hookimpl",
    "load_config",
    "load_plugins",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stockfish_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stockfish_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
