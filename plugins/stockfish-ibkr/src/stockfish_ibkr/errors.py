"""TWS errors, warnings and notices (``errorEvent``): each code's effect, from the one
table in :mod:`stockfish_ibkr.error_codes`, applied to the order, request, feed or
connection it concerns.

- an error naming one of our orders goes to the execution role (reject, cancel, cancel
  refused, pacing retry, verify with TWS);
- connection codes: 1100 marks the link to IB's servers down and waits for 1101 / 1102
  (1101: subscribe again), 502 / 504 / 1300 reconnect;
- farm notices update each farm's state; the feed watch re-requests what a farm's
  recovery leaves silent;
- a refused data request marks its subscription failed (stale, with the reason); a
  dropped one (100, 420) is requested again after the pacing window; 316 re-requests depth;
- anything else is informational: counted, logged once per code.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from stockfish_core.connector import ConnectorStatus

from stockfish_ibkr.error_codes import TWS_ERRORS, Effect, ErrorRule, farm_of, rule_for
from stockfish_ibkr.farms import FARM_NOTICES, MARKET, OK, FarmBoard
from stockfish_ibkr.session import SessionMixin

if TYPE_CHECKING:
    from stockfish_ibkr.market_data import _Route

__all__ = ["ErrorsMixin"]

log = logging.getLogger(__name__)

# Effects that, on one of our orders, the execution role applies.
_ORDER_EFFECTS = frozenset({Effect.REJECT_ORDER, Effect.ORDER_CANCELLED, Effect.CANCEL_REFUSED,
                            Effect.RETRY, Effect.REQUEST_REFUSED})
_NOT_CONNECTED = frozenset({502, 504, 1300})
_PACING_WINDOW = 1.05


class ErrorsMixin(SessionMixin):
    """The error role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        _by_symbol: dict[str, _Route]

        def _order_for_error(self, req_id: int) -> str | None: ...

        def _order_error(self, cid: str, req_id: int, rule: ErrorRule, code: int,
                         text: str) -> None: ...

        def _route_for_contract(self, contract: Any) -> _Route | None: ...

        def _feed_refused(self, route: _Route, reason: str) -> None: ...

        def _feed_rerequest_soon(self, ib: Any, route: _Route, reason: str,
                                 delay: float) -> None: ...

        def _farm_changed(self, ib: Any, farm: str, state: str) -> None: ...

        def _history_refused(self, contract: Any, code: int, message: str) -> bool: ...

    def _init_errors(self) -> None:
        self._last_errors: dict[int, tuple[int, str]] = {}  # code -> (reqId, message)
        self.farms = FarmBoard()
        self._codes_logged: set[int] = set()

    @property
    def _farm_down(self) -> bool:
        """Whether a market-data farm is broken now."""
        return bool(self.farms.down(MARKET))

    def _on_error(self, ib: Any, req_id: int, code: int, message: str,
                  contract: Any = None) -> None:
        if ib is not self._ib:
            if ib is self._connecting and code in FARM_NOTICES:
                self._farm_notice(ib, code, message)  # the farms' states at logon
            return
        self.ib_counters[f"error_{code}"] += 1
        self._last_errors[code] = (req_id, message)
        rule = rule_for(code)
        cid = self._order_for_error(req_id)
        if cid is not None and (rule.effect in _ORDER_EFFECTS or code not in TWS_ERRORS
                                or rule.effect is Effect.INFORM):
            self._order_error(cid, req_id, rule, code, message)
            return
        effect = rule.effect
        if contract is not None and self._history_refused(contract, code, message):
            return
        if effect is Effect.CONNECTION:
            self._connection_notice(ib, code, message)
        elif effect is Effect.FARM:
            self._farm_notice(ib, code, message)
        elif effect is Effect.RETRY:
            self._request_dropped(ib, req_id, code, message, contract)
        elif effect in (Effect.REQUEST_REFUSED, Effect.REJECT_ORDER):
            self._request_refused(req_id, code, message, contract)
        elif effect is Effect.REREQUEST_FEED:
            route = self._route_for_contract(contract)
            if route is not None:
                self._feed_rerequest_soon(ib, route, f"IB error {code}: {message}", 0.0)
        elif effect in (Effect.ORDER_CANCELLED, Effect.CANCEL_REFUSED):
            self.ib_counters["foreign_order_errors"] += 1  # another client's order
        elif effect is not Effect.HISTORICAL:  # the historical request raises it itself
            self._inform(rule, req_id, message)

    def _inform(self, rule: ErrorRule, req_id: int, message: str) -> None:
        code = rule.code
        if code in self._codes_logged:
            log.debug("%s: IB %d (id %d): %s", self.name, code, req_id, message)
            return
        self._codes_logged.add(code)
        if code in TWS_ERRORS:
            log.info("%s: IB %d (id %d): %s (%s)", self.name, code, req_id, message,
                     rule.meaning)
        else:
            self.ib_counters["errors_unclassified"] += 1
            log.warning("%s: IB error %d (id %d) is not in the error table: %s", self.name,
                        code, req_id, message)

    # ------------------------------------------------------------------ connection
    def _connection_notice(self, ib: Any, code: int, message: str) -> None:
        if code == 1100:
            self._link_down = True
            self._link_restored.clear()
            self.handle_connection_error(f"IB error {code}: {message}")
        elif code in (1101, 1102):
            self._on_restored(ib, data_lost=code == 1101)
        elif code in _NOT_CONNECTED:
            self._lost(ib, f"IB error {code}: {message}")
        else:  # 326 after logon: the session is refused
            log.warning("%s: IB error %d: %s", self.name, code, message)

    def _on_restored(self, ib: Any, data_lost: bool) -> None:
        if data_lost:
            for route in list(self._by_symbol.values()):
                route.md_stale = route.depth_stale = route.bars_stale = True
        self._link_down = False
        self._link_restored.set()
        log.info("%s: IB connectivity restored (%s)", self.name,
                 "data lost: resubscribing" if data_lost else "data maintained")
        if self.status is ConnectorStatus.CONNECTED and not self.reconnecting and data_lost:
            self._spawn(self.resubscribe, "resubscribe")

    # ------------------------------------------------------------------ farms
    def _farm_notice(self, ib: Any, code: int, message: str) -> None:
        name = farm_of(code, message)
        changed = self.farms.notice(code, name)
        if changed is None:
            return
        kind, state = FARM_NOTICES[code]
        if state == "broken":
            self.ib_counters["farm_outages"] += 1
            log.warning("%s: IB %s farm %s broken (%d)", self.name, kind, changed.name, code)
        elif state == OK:
            log.info("%s: IB %s farm %s OK (%d)", self.name, kind, changed.name, code)
        if kind == MARKET:
            self._farm_changed(ib, changed.name, state)

    # ------------------------------------------------------------------ data requests
    def _request_dropped(self, ib: Any, req_id: int, code: int, message: str,
                         contract: Any) -> None:
        """100 / 420 on a data request: TWS dropped it; a stream goes again after the
        pacing window. (A blocking request gets the error itself and retries.)"""
        self.ib_counters["pacing_violations"] += 1
        route = self._route_for_contract(contract)
        if route is not None:
            self._feed_rerequest_soon(ib, route, f"IB error {code}: {message}",
                                      _PACING_WINDOW)
        else:
            log.warning("%s: IB pacing %d reached TWS (id %d): %s", self.name, code, req_id,
                        message)

    def _request_refused(self, req_id: int, code: int, message: str, contract: Any) -> None:
        """A data request TWS refused: its subscription is marked failed with the reason.
        (A blocking request — contract details, history — raises it to its caller.)"""
        reason = f"IB error {code}: {message}"
        route = self._route_for_contract(contract)
        if route is not None:
            self.ib_counters["subscriptions_refused"] += 1
            self._feed_refused(route, reason)
            log.warning("%s: %s: market data refused: %s", self.name, route.symbol, reason)
        elif contract is None:
            self._inform(rule_for(code), req_id, message)
