"""Exceptions raised by the public API."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConnectorError",
    "DuplicateOrderIdError",
    "JournalError",
    "NotConnectedError",
    "OrderNotSentError",
    "OrderRejectedError",
    "PluginError",
    "StockfishError",
    "SubscriptionError",
    "UnknownOrderError",
]


class StockfishError(Exception):
    """Base of every error this package raises on purpose."""


class ConnectorError(StockfishError):
    """A connector could not do what was asked."""


class NotConnectedError(ConnectorError):
    """The connector is not connected."""


class SubscriptionError(ConnectorError):
    """A subscription was refused (unknown symbol, unsupported data type, venue reject)."""


class OrderRejectedError(ConnectorError):
    """An order was refused before or by the venue. ``order`` holds the rejected order."""

    def __init__(self, message: str, order: object | None = None) -> None:
        super().__init__(message)
        self.order = order


class OrderNotSentError(OrderRejectedError):
    """Raised by a connector's ``submit_order`` when the order certainly never reached the
    venue (the socket was closed, the request was refused before it was read). The core
    marks the order REJECTED with the reason; nothing is working anywhere."""


class DuplicateOrderIdError(OrderRejectedError):
    """A *different* order was sent with a client order id already in use. Nothing was
    sent and the order that holds the id is untouched."""


class UnknownOrderError(ConnectorError, KeyError):
    """No order with that id is known."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown order"


class PluginError(StockfishError):
    """A plugin or connector type is missing or broken."""


class JournalError(StockfishError):
    """The order journal cannot be opened or written (corrupt, locked, unwritable). Never
    answered with a silent fresh start: the orders it holds would become invisible."""


class ConfigError(StockfishError):
    """The configuration is invalid. ``problems`` lists ``(path, message)`` pairs in file
    order; ``lines`` holds the line of each in the file (``None`` when not known)."""

    def __init__(self, problems: list[tuple[str, str]],
                 lines: list[int | None] | None = None) -> None:
        self.problems = problems
        self.lines: list[int | None] = list(lines) if lines is not None \
            else [None] * len(problems)
        super().__init__("\n".join(f"{path}: {msg}" if path else msg for path, msg in problems))
