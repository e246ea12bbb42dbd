"""Settings every connector shares, and the ``Secret`` type for credentials.

Each connector type declares an attrs settings class that subclasses
:class:`ConnectorSettings` (use ``@attrs.frozen(kw_only=True)``). The configuration loader
structures ``connectors.<name>.*`` into it with cattrs.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ConnectorSettings", "Secret", "non_negative", "positive"]

from stockfish_core.redaction import MASK


class Secret:
    """A credential. Its repr/str are masked; call :meth:`reveal` where the wire needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)
        from stockfish_core.redaction import register_secret

        register_secret(self._value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")


def non_negative(_: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    """attrs validator: ``value >= 0``."""
    if value < 0:
        raise ValueError(f"{attribute.name}: must be >= 0, got {value!r}")


def positive(_: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    """attrs validator: ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{attribute.name}: must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ConnectorSettings:
    """Options common to every connector.

    - ``data_only``: never route orders to this connector.
    - ``read_only``: market data allowed, orders refused before the wire.
    - ``heartbeat_interval``: seconds between liveness probes; a connection silent for two
      intervals is reported down.
    - ``auto_reconnect`` with ``reconnect_initial_delay``/``reconnect_max_delay`` (seconds)
      and ``reconnect_max_attempts`` (0 = keep trying): exponential backoff with jitter.
    - ``max_order_quantity``, ``max_notional``, ``max_orders_per_second``: pre-trade limits
      (0 = no limit), checked before anything reaches the wire.
    """

    data_only: bool = False
    read_only: bool = False
    heartbeat_interval: float = attrs.field(default=30.0, validator=positive)
    auto_reconnect: bool = True
    reconnect_initial_delay: float = attrs.field(default=0.5, validator=positive)
    reconnect_max_delay: float = attrs.field(default=30.0, validator=positive)
    reconnect_max_attempts: int = attrs.field(default=0, validator=non_negative)
    max_order_quantity: float = attrs.field(default=0.0, validator=non_negative)
    max_notional: float = attrs.field(default=0.0, validator=non_negative)
    max_orders_per_second: float = attrs.field(default=0.0, validator=non_negative)
