"""TWS error codes as the fake TWS sends them: text, effect on the request, where they apply.

Texts follow IB's published message-code list (interactivebrokers.github.io/tws-api/
message_codes.html) and what TWS is seen to send in client logs; ``{name}`` fields are
filled from the request. ``docs/tws-errors.md`` lists the sources code by code.

Effects (what TWS does with the request it answers with the code):

- ``drop``: the request is discarded unprocessed (an order is not accepted, a cancel not
  applied, a subscription not made); only the error comes back.
- ``reject``: the request is refused: no order, no modification (the original order is
  unchanged), no cancel, no data.
- ``cancel``: the order is accepted and then cancelled by TWS (orderStatus Cancelled).
- ``inform``: a notice (farm status); the request is processed as usual.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from stockfish_ibkr.testing import protocol as p

__all__ = ["ERRORS", "HISTORICAL_162", "KIND_BY_MESSAGE", "REQUEST_KINDS", "ErrorInjector",
           "ErrorSpec", "Injection", "error_text", "request_id"]

DROP, REJECT, CANCEL, INFORM = "drop", "reject", "cancel", "inform"

# Request kind (the EClient method name) -> (incoming message id, index of its id field).
REQUEST_KINDS: dict[str, tuple[int, int | None]] = {
    "reqMktData": (p.IN_REQ_MKT_DATA, 2),
    "cancelMktData": (p.IN_CANCEL_MKT_DATA, 2),
    "placeOrder": (p.IN_PLACE_ORDER, 1),
    "cancelOrder": (p.IN_CANCEL_ORDER, 2),
    "reqOpenOrders": (p.IN_REQ_OPEN_ORDERS, None),
    "reqAccountUpdates": (p.IN_REQ_ACCOUNT_UPDATES, None),
    "reqExecutions": (p.IN_REQ_EXECUTIONS, 2),
    "reqIds": (p.IN_REQ_IDS, None),
    "reqContractDetails": (p.IN_REQ_CONTRACT_DETAILS, 2),
    "reqMktDepth": (p.IN_REQ_MKT_DEPTH, 2),
    "cancelMktDepth": (p.IN_CANCEL_MKT_DEPTH, 2),
    "reqNewsBulletins": (p.IN_REQ_NEWS_BULLETINS, None),
    "cancelNewsBulletins": (p.IN_CANCEL_NEWS_BULLETINS, None),
    "reqAutoOpenOrders": (p.IN_REQ_AUTO_OPEN_ORDERS, None),
    "reqAllOpenOrders": (p.IN_REQ_ALL_OPEN_ORDERS, None),
    "reqManagedAccts": (p.IN_REQ_MANAGED_ACCTS, None),
    "reqHistoricalData": (p.IN_REQ_HISTORICAL_DATA, 1),
    "cancelHistoricalData": (p.IN_CANCEL_HISTORICAL_DATA, 2),
    "reqCurrentTime": (p.IN_REQ_CURRENT_TIME, None),
    "reqRealTimeBars": (p.IN_REQ_REAL_TIME_BARS, 2),
    "cancelRealTimeBars": (p.IN_CANCEL_REAL_TIME_BARS, 2),
    "reqGlobalCancel": (p.IN_REQ_GLOBAL_CANCEL, None),
    "reqMarketDataType": (p.IN_REQ_MARKET_DATA_TYPE, None),
    "reqPositions": (p.IN_REQ_POSITIONS, None),
    "reqAccountSummary": (p.IN_REQ_ACCOUNT_SUMMARY, 2),
    "cancelAccountSummary": (p.IN_CANCEL_ACCOUNT_SUMMARY, 2),
    "cancelPositions": (p.IN_CANCEL_POSITIONS, None),
    "startApi": (p.IN_START_API, None),
    "reqAccountUpdatesMulti": (p.IN_REQ_ACCOUNT_UPDATES_MULTI, 2),
    "cancelAccountUpdatesMulti": (p.IN_CANCEL_ACCOUNT_UPDATES_MULTI, 2),
    "reqCompletedOrders": (p.IN_REQ_COMPLETED_ORDERS, None),
}
KIND_BY_MESSAGE: dict[int, str] = {msg: kind for kind, (msg, _) in REQUEST_KINDS.items()}


def request_id(msg_id: int, fields: list[str]) -> int:
    """The order id or request id a message carries (-1 when it has none)."""
    kind = KIND_BY_MESSAGE.get(msg_id)
    index = REQUEST_KINDS[kind][1] if kind else None
    if index is None or index >= len(fields):
        return -1
    try:
        return int(fields[index])
    except ValueError:
        return -1


_ORDER = frozenset({"placeOrder"})
_CANCEL = frozenset({"cancelOrder"})
_STREAMS = frozenset({"reqMktData", "reqMktDepth", "reqRealTimeBars"})
_CONTRACT = frozenset({"placeOrder", "reqMktData", "reqMktDepth", "reqHistoricalData",
                       "reqRealTimeBars", "reqContractDetails"})


@attrs.frozen
class ErrorSpec:
    """One TWS message code: its text template, its effect and the requests it answers."""

    code: int
    text: str
    effect: str
    requests: frozenset[str] | None = None  # None: any request (or none: a broadcast)


_HMDS = "Historical Market Data Service error message:"
# Error 162's texts; the name is the ``variant`` of an injected 162.
HISTORICAL_162: dict[str, str] = {
    "pacing": _HMDS + "Historical data request pacing violation",
    "no_data": _HMDS + "HMDS query returned no data: {local_symbol}@{exchange} {what_word}",
    "no_permissions": _HMDS + "No market data permissions for {exchange} {sec_type}",
    "not_available": _HMDS + "No historical market data for {symbol}/{sec_type}@{hmds_exchange} "
                             "{what_short} {bar_seconds}",
}

_SPECS = (
    ErrorSpec(100, "Max rate of messages per second has been exceeded:max={max} rec={rec} ({id})",
              DROP),
    ErrorSpec(103, "Duplicate order id", REJECT, _ORDER),
    ErrorSpec(104, "Can't modify a filled order", REJECT, _ORDER),
    ErrorSpec(105, "Order being modified does not match original order", REJECT, _ORDER),
    ErrorSpec(106, "Can't transmit order ID:{id}", REJECT, _ORDER),
    ErrorSpec(107, "Cannot transmit incomplete order", REJECT, _ORDER),
    ErrorSpec(109, "Price is out of the range defined by the Percentage setting at order "
                   "defaults frame. The order will not be transmitted.", REJECT, _ORDER),
    ErrorSpec(110, "The price does not conform to the minimum price variation for this "
                   "contract.", REJECT, _ORDER),
    ErrorSpec(135, "Can't find order with ID ={id}", REJECT, _ORDER | _CANCEL),
    ErrorSpec(161, "Cancel attempted when order is not in a cancellable state. Order permId "
                   "={perm_id}", REJECT, _CANCEL),
    ErrorSpec(162, HISTORICAL_162["pacing"], REJECT, frozenset({"reqHistoricalData"})),
    ErrorSpec(200, "No security definition has been found for the request", REJECT, _CONTRACT),
    ErrorSpec(201, "Order rejected - reason:{reason}", REJECT, _ORDER),
    ErrorSpec(202, "Order Canceled - reason:{reason}", CANCEL, _ORDER),
    ErrorSpec(321, "Error validating request.-'{tag}' : cause - {reason}", REJECT),
    ErrorSpec(354, "Requested market data is not subscribed. Delayed market data is not "
                   "available.", REJECT, _STREAMS),
    ErrorSpec(10147, "OrderId {id} that needs to be cancelled is not found.", REJECT, _CANCEL),
    ErrorSpec(10148, "OrderId {id} that needs to be cancelled cannot be cancelled, state: "
                     "{state}.", REJECT, _CANCEL),
    ErrorSpec(2103, "Market data farm connection is broken:{farm}", INFORM),
    ErrorSpec(2104, "Market data farm connection is OK:{farm}", INFORM),
    ErrorSpec(2105, "HMDS data farm connection is broken:{farm}", INFORM),
    ErrorSpec(2106, "HMDS data farm connection is OK:{farm}", INFORM),
    ErrorSpec(2107, "HMDS data farm connection is inactive but should be available upon "
                    "demand.{farm}", INFORM),
    ErrorSpec(2108, "Market data farm connection is inactive but should be available upon "
                    "demand.{farm}", INFORM),
    ErrorSpec(2157, "Sec-def data farm connection is broken:{farm}", INFORM),
    ErrorSpec(2158, "Sec-def data farm connection is OK:{farm}", INFORM),
)
ERRORS: dict[int, ErrorSpec] = {spec.code: spec for spec in _SPECS}

# Defaults for the template fields a request does not provide.
_DEFAULTS = {"reason": "", "tag": "v", "state": "Cancelled", "farm": "usfarm", "perm_id": 0,
             "max": 50, "rec": 0, "id": -1}


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return _DEFAULTS.get(key, "")


def error_text(code: int, context: Mapping[str, Any] | None = None,
               variant: str | None = None) -> str:
    """The text TWS sends with ``code`` (162: the text of ``variant``)."""
    if code == 162 and variant is not None:
        template = HISTORICAL_162[variant]
    else:
        spec = ERRORS.get(code)
        if spec is None:
            raise KeyError(f"no text known for TWS error {code}: pass message=")
        template = spec.text
        if code == 321 and not (context or {}).get("reason"):
            # the validation failure seen most on orders (vnpy_ib #75)
            template = "Error validating request.-'v' : cause - Order size does not conform " \
                       "to market rule."
    return template.format_map(_Fields(context or {}))


def effect_of(code: int) -> str:
    spec = ERRORS.get(code)
    if spec is not None:
        return spec.effect
    return INFORM if 2100 <= code < 2200 else REJECT


@attrs.define(slots=True)
class Injection:
    """``count`` more requests of kind ``request`` are answered with ``code``."""

    request: str
    code: int
    count: int
    message: str | None = None
    variant: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class ErrorInjector:
    """Armed error answers, per request kind, first armed first used. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, collections.deque[Injection]] = {}
        self.armed = 0  # read without the lock on the hot path: a cheap "anything armed?"

    def arm(self, request: str, code: int, count: int = 1, *, message: str | None = None,
            variant: str | None = None, reason: str = "") -> Injection:
        """Validate and arm; raises ValueError for what TWS would never answer."""
        if request not in REQUEST_KINDS:
            raise ValueError(f"unknown request kind {request!r}; one of "
                             f"{', '.join(sorted(REQUEST_KINDS))}")
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        if variant is not None and (code != 162 or variant not in HISTORICAL_162):
            raise ValueError(f"variant {variant!r}: only error 162 has variants "
                             f"({', '.join(HISTORICAL_162)})")
        spec = ERRORS.get(code)
        if spec is None and message is None and not 2100 <= code < 2200:
            raise ValueError(f"error {code} has no known text: pass message=")
        if spec is not None and spec.requests is not None and request not in spec.requests:
            raise ValueError(f"TWS does not answer {request} with error {code} "
                             f"(it answers {', '.join(sorted(spec.requests))})")
        injection = Injection(request, code, count, message, variant, reason)
        with self._lock:
            self._armed.setdefault(request, collections.deque()).append(injection)
            self.armed += 1
        return injection

    def take(self, request: str) -> Injection | None:
        """The injection that answers this request of kind ``request``, if one is armed."""
        with self._lock:
            queue = self._armed.get(request)
            if not queue:
                return None
            injection = queue[0]
            injection.count -= 1
            if injection.count <= 0:
                queue.popleft()
                self.armed -= 1
            return attrs.evolve(injection, count=1)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [i.to_dict() for queue in self._armed.values() for i in queue]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.armed = 0
