"""Orders, fills and the explicit, thread-safe order state machine.

Legal transitions::

    PENDING ──► SUBMITTED ──► PARTIALLY_FILLED ──► FILLED
       │            │                │
       └────────────┴────────────────┴──► CANCELLED / REJECTED / ERROR

A terminal order never changes again. An impossible transition, a duplicate fill
(same execution id) or an overfill is refused, logged and reported to the caller;
it is never applied.
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
import os
import threading
from typing import Any

import attrs

from stockfish_core import serialization
from stockfish_core.enums import _TERMINAL, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.models import now_ns, ns_to_datetime

__all__ = [
    "Fill",
    "Order",
    "OrderEvent",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "TimeInForce",
    "Transition",
    "check_identifier",
    "forget_terminal",
    "new_client_order_id",
]

log = logging.getLogger(__name__)


_ENDINGS = {OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.ERROR}
LEGAL_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # A venue may report a fill before its acknowledgement reaches us.
    OrderStatus.PENDING: frozenset(
        {OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED} | _ENDINGS
    ),
    OrderStatus.SUBMITTED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED} | _ENDINGS
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.FILLED} | _ENDINGS),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.ERROR: frozenset(),
}


class Transition(str, enum.Enum):
    """Outcome of applying a status change or fill to an order."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"  # same status again: an idempotent acknowledgement
    ILLEGAL = "illegal"  # impossible transition, e.g. FILLED -> SUBMITTED
    TERMINAL = "terminal"  # the order is terminal and never changes again
    DUPLICATE_FILL = "duplicate_fill"  # execution id already applied
    OVERFILL = "overfill"  # fill would exceed the order quantity
    INVALID_FILL = "invalid_fill"  # non-positive or non-finite quantity/price

    @property
    def applied(self) -> bool:
        return self is Transition.APPLIED


_PROCESS_TAG = f"{os.getpid() % 46656:03x}"
_counter = itertools.count(1)


def new_client_order_id() -> str:
    """A client order id unique across processes and restarts (time + pid + counter)."""
    return f"SF{now_ns() // 1000:x}{_PROCESS_TAG}{next(_counter):x}"


@attrs.frozen(slots=True)
class Fill:
    """One execution. ``exec_id`` is the venue's execution id, used to de-duplicate."""

    exec_id: str
    quantity: float
    price: float
    ts_event: int = attrs.field(factory=now_ns)
    commission: float = 0.0
    venue_order_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return serialization.converter().unstructure(self)  # type: ignore[no-any-return]


def _side(value: Any) -> OrderSide:
    return value if isinstance(value, OrderSide) else OrderSide(str(value).upper())


def _order_type(value: Any) -> OrderType:
    return value if isinstance(value, OrderType) else OrderType(str(value).upper())


def _tif(value: Any) -> TimeInForce:
    return value if isinstance(value, TimeInForce) else TimeInForce(str(value).upper())


def _finite_positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _quantity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"quantity must be a number, got {value!r}")
    return float(value)


#: Longest symbol, account or client order id accepted (FIX venues commonly allow 64).
MAX_ID_LENGTH = 64


def check_identifier(name: str, value: Any, *, optional: bool = False) -> None:
    """Refuse what must never reach a wire inside an identifier: not a string, empty,
    longer than :data:`MAX_ID_LENGTH`, or containing whitespace or a control character
    (NUL, SOH — the FIX field separator —, newlines, DEL ...)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} is longer than {MAX_ID_LENGTH} characters: {value[:20]!r}...")
    for char in value:
        if char.isspace() or ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            raise ValueError(f"{name} contains a whitespace or control character "
                             f"({char!r}): {value!r}")


@attrs.define(slots=True, eq=False, repr=False)
class Order:
    """A client order and its lifecycle.

    The seed's positional form works: ``Order('SPY', OrderSide.BUY, 100, OrderType.LIMIT,
    price=450.0)``. ``client_order_id`` is ours, made at creation and unique; ``order_id`` is
    the venue's, set once the venue acknowledges. Change status and fills only through
    :meth:`apply_status` and :meth:`apply_fill` so that the state machine holds.
    """

    symbol: str
    side: OrderSide = attrs.field(converter=_side)
    quantity: float = attrs.field(converter=_quantity)
    order_type: OrderType = attrs.field(default=OrderType.MARKET, converter=_order_type)
    price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = attrs.field(default=TimeInForce.DAY, converter=_tif)
    account: str | None = None
    client_order_id: str = attrs.field(factory=new_client_order_id)
    order_id: str | None = None
    connector: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    fills: list[Fill] = attrs.field(factory=list)
    reject_reason: str | None = None
    unknown_outcome: bool = False
    created_ns: int = attrs.field(factory=now_ns)
    updated_ns: int = attrs.field(factory=now_ns)
    tags: dict[str, str] = attrs.field(factory=dict)
    #: Placed by someone else (another process, by hand at the venue, before the journal
    #: existed) and adopted by the connector that found it.
    external: bool = False
    #: The connector's own references to the order at its venue (a FIX ClOrdID chain, an IB
    #: permId ...), journaled with it so that a restarted process can still reach it.
    venue_refs: dict[str, str] = attrs.field(factory=dict)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, init=False)
    _exec_ids: set[str] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        check_identifier("symbol", self.symbol)
        check_identifier("client_order_id", self.client_order_id)
        check_identifier("account", self.account, optional=True)
        for key, value in self.tags.items():
            check_identifier("tag name", key)
            if not isinstance(value, str) or any(ord(c) < 0x20 or ord(c) == 0x7F
                                                 for c in value):
                raise ValueError(f"tag {key!r} must be a string without control characters, "
                                 f"got {value!r}")
        if not math.isfinite(self.quantity) or self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity!r}")
        _finite_positive("price", self.price)
        _finite_positive("stop_price", self.stop_price)
        kind = self.order_type
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.price is None:
            raise ValueError(f"{kind.value} order needs a price")
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"{kind.value} order needs a stop_price")
        if kind is OrderType.MARKET and self.price is not None:
            raise ValueError("MARKET order takes no price")
        if kind in (OrderType.MARKET, OrderType.LIMIT) and self.stop_price is not None:
            raise ValueError(f"{kind.value} order takes no stop_price")
        self._exec_ids.update(f.exec_id for f in self.fills)

    # -- read-only views -------------------------------------------------------------
    @property
    def is_terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Accepted (or sent) and not yet terminal."""
        return self.status not in _TERMINAL

    @property
    def remaining_quantity(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)

    @property
    def notional(self) -> float | None:
        ref = self.price if self.price is not None else self.stop_price
        return None if ref is None else ref * self.quantity

    @property
    def created_at(self) -> Any:
        return ns_to_datetime(self.created_ns)

    def has_fill(self, exec_id: str) -> bool:
        return exec_id in self._exec_ids

    # -- state machine ---------------------------------------------------------------
    def apply_status(self, status: OrderStatus, reason: str | None = None) -> Transition:
        """Move to ``status`` if the transition is legal; otherwise refuse and log."""
        with self._lock:
            current = self.status
            if status is current:
                return Transition.UNCHANGED
            if current in _TERMINAL:
                log.warning(
                    "order %s: refused %s -> %s (terminal)", self.client_order_id,
                    current.value, status.value,
                )
                return Transition.TERMINAL
            if status not in LEGAL_TRANSITIONS[current]:
                log.warning(
                    "order %s: refused illegal transition %s -> %s", self.client_order_id,
                    current.value, status.value,
                )
                return Transition.ILLEGAL
            if status is OrderStatus.FILLED and self.filled_quantity < self.quantity - 1e-9:
                log.warning(
                    "order %s: refused FILLED with %s of %s filled", self.client_order_id,
                    self.filled_quantity, self.quantity,
                )
                return Transition.ILLEGAL
            self.status = status
            if reason is not None and status in _ENDINGS:
                self.reject_reason = reason
            self.updated_ns = now_ns()
            return Transition.APPLIED

    def apply_fill(self, fill: Fill) -> Transition:
        """Apply an execution once; the status follows the filled quantity."""
        with self._lock:
            if fill.exec_id in self._exec_ids:
                return Transition.DUPLICATE_FILL
            if self.status in _TERMINAL:
                log.warning(
                    "order %s: refused fill %s on terminal %s order", self.client_order_id,
                    fill.exec_id, self.status.value,
                )
                return Transition.TERMINAL
            if (
                not math.isfinite(fill.quantity) or fill.quantity <= 0
                or not math.isfinite(fill.price) or fill.price <= 0
            ):
                log.warning("order %s: refused invalid fill %r", self.client_order_id, fill)
                return Transition.INVALID_FILL
            new_filled = self.filled_quantity + fill.quantity
            if new_filled > self.quantity + 1e-9:
                log.warning(
                    "order %s: refused overfill %s (filled %s of %s)", self.client_order_id,
                    fill.exec_id, self.filled_quantity, self.quantity,
                )
                return Transition.OVERFILL
            prior = (self.avg_fill_price or 0.0) * self.filled_quantity
            self.avg_fill_price = (prior + fill.price * fill.quantity) / new_filled
            self.filled_quantity = new_filled
            self.fills.append(fill)
            self._exec_ids.add(fill.exec_id)
            self.status = (
                OrderStatus.FILLED if new_filled >= self.quantity - 1e-9
                else OrderStatus.PARTIALLY_FILLED
            )
            self.updated_ns = now_ns()
            return Transition.APPLIED

    def apply_commission(self, exec_id: str, commission: float) -> bool:
        """Record the commission a venue reports after the fill ``exec_id``."""
        if not math.isfinite(commission):
            return False
        with self._lock:
            for i, fill in enumerate(self.fills):
                if fill.exec_id == exec_id:
                    self.fills[i] = attrs.evolve(fill, commission=commission)
                    self.updated_ns = now_ns()
                    return True
        return False

    @property
    def total_commission(self) -> float:
        return sum(f.commission for f in self.fills)

    def amend(
        self, *, quantity: float | None = None, price: float | None = None,
        stop_price: float | None = None,
    ) -> Transition:
        """Apply a venue-confirmed replace (new quantity and/or prices) to an open order."""
        with self._lock:
            if self.status in _TERMINAL:
                return Transition.TERMINAL
            if quantity is not None:
                if not math.isfinite(quantity) or quantity < self.filled_quantity or quantity <= 0:
                    return Transition.ILLEGAL
                self.quantity = float(quantity)
            if price is not None:
                self.price = price
            if stop_price is not None:
                self.stop_price = stop_price
            self.updated_ns = now_ns()
            return Transition.APPLIED

    def snapshot(self) -> dict[str, Any]:
        """A plain dict of the order's current state (safe to log: no secrets)."""
        with self._lock:
            return {
                "client_order_id": self.client_order_id,
                "order_id": self.order_id,
                "connector": self.connector,
                "symbol": self.symbol,
                "side": self.side.value,
                "quantity": self.quantity,
                "order_type": self.order_type.value,
                "price": self.price,
                "stop_price": self.stop_price,
                "time_in_force": self.time_in_force.value,
                "status": self.status.value,
                "filled_quantity": self.filled_quantity,
                "avg_fill_price": self.avg_fill_price,
                "fills": [f.to_dict() for f in self.fills],
                "reject_reason": self.reject_reason,
                "unknown_outcome": self.unknown_outcome,
                "external": self.external,
                "created_ns": self.created_ns,
                "updated_ns": self.updated_ns,
            }

    to_dict = snapshot

    def __repr__(self) -> str:
        px = f" @ {self.price}" if self.price is not None else ""
        return (
            f"Order({self.client_order_id} {self.side.value} {self.quantity:g} {self.symbol}"
            f" {self.order_type.value}{px} {self.status.value}"
            f" filled={self.filled_quantity:g})"
        )


def forget_terminal(orders: dict[str, Order], cap: int) -> list[Order]:
    """Remove the oldest terminal orders from ``orders`` (insertion-ordered) down to 90% of
    ``cap``; open and unknown-outcome orders are always kept. Returns what was removed."""
    excess = len(orders) - int(cap * 0.9)
    removed: list[Order] = []
    for key in list(orders):
        if excess <= 0:
            break
        order = orders[key]
        if order.is_terminal and not order.unknown_outcome:
            del orders[key]
            removed.append(order)
            excess -= 1
    return removed


@attrs.frozen(slots=True)
class OrderEvent:
    """A change to an order, emitted to listeners and the ``stockfish_order_event`` hook.

    ``kind`` is one of ``submitted``, ``status``, ``fill``, ``rejected``, ``cancel_rejected``,
    ``replaced``, ``unknown_outcome``, ``reconciled``, ``recovered`` (loaded from the journal
    at start-up), ``external_order`` (an order this process did not send, found at the
    venue) and ``external_fill`` (a fill of such an order).
    """

    kind: str
    connector: str
    client_order_id: str
    status: OrderStatus
    fill: Fill | None = None
    reason: str | None = None
    ts: int = attrs.field(factory=now_ns)
