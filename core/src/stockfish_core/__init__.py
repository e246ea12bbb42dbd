"""Stockfish RT core: normalized market data, orders, the connector contract, the plugin
registry and the exchange manager.

Submodules are imported lazily so that ``import stockfish_core`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from stockfish_core.__about__ import __version__

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
}

__all__ = ["__version__", *_EXPORTS.keys()]  # noqa: PLE0604


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stockfish_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stockfish_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
