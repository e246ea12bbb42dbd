"""What a connector type can do; the manager and the base connector enforce it."""

from __future__ import annotations

from typing import Any

import attrs

from stockfish_core.enums import DataType, OrderType, TimeInForce

__all__ = ["ALL_ORDER_TYPES", "ALL_TIME_IN_FORCE", "Capabilities"]

ALL_ORDER_TYPES = frozenset(OrderType)
ALL_TIME_IN_FORCE = frozenset(TimeInForce)


@attrs.frozen
class Capabilities:
    """What a connector type can do; the manager and the base class enforce it."""

    data_types: frozenset[DataType] = attrs.field(default=frozenset(), converter=frozenset)
    order_types: frozenset[OrderType] = attrs.field(default=frozenset(), converter=frozenset)
    time_in_force: frozenset[TimeInForce] = attrs.field(
        default=ALL_TIME_IN_FORCE, converter=frozenset
    )
    data_only: bool = False
    supports_replace: bool = False
    #: The venue reports positions (otherwise they are derived from fills).
    positions: bool = False
    #: The venue reports account values (``get_account``).
    account: bool = False
    #: The venue serves historical bars (``get_historical_bars``).
    history: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_types": sorted(t.value for t in self.data_types),
            "order_types": sorted(t.value for t in self.order_types),
            "time_in_force": sorted(t.value for t in self.time_in_force),
            "data_only": self.data_only,
            "supports_replace": self.supports_replace,
            "positions": self.positions,
            "account": self.account,
            "history": self.history,
        }
