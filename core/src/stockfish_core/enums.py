"""The enumerations of the public API, in a module of their own so that plugin discovery
and configuration can use them without importing the data models."""

from __future__ import annotations

import enum

__all__ = ["ConnectorStatus", "DataType", "OrderSide", "OrderStatus", "OrderType",
           "TimeInForce"]


class DataType(str, enum.Enum):
    """Kind of event carried by a :class:`MarketUpdate`."""

    PRICE_TICK = "price_tick"
    ORDERBOOK_SNAPSHOT = "orderbook_snapshot"
    OHLCV_BAR = "ohlcv_bar"
    TRADE = "trade"
    NEWS = "news"
    MACRO = "macro"
    CUSTOM = "custom"


class OrderSide(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(str, enum.Enum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.ERROR}
)


class ConnectorStatus(str, enum.Enum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    ERROR = "ERROR"
