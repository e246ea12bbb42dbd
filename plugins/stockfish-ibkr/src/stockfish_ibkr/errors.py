"""TWS errors, warnings and notices (``errorEvent``) and what each does to the connector:
the link to IB's servers (1100 / 1101 / 1102), data farms (2103-2106), a dead API session
(502 / 504), pacing violations and refused cancels."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from stockfish_core.connector import ConnectorStatus

from stockfish_ibkr.session import SessionMixin

if TYPE_CHECKING:
    from stockfish_ibkr.market_data import _Route
    from stockfish_ibkr.order_map import IBKROrderMap

__all__ = ["ErrorsMixin"]

log = logging.getLogger(__name__)

_CONNECTION_LOST = {1100}
_RESTORED = {1101, 1102}
_FARM_LOST = {2103, 2105}
_FARM_OK = {2104, 2106}
_NOT_CONNECTED = {502, 504}
_PACING = {100, 162, 420}
_CANCEL_REJECTED = {135, 161, 10147, 10148}


class ErrorsMixin(SessionMixin):
    """The error role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the other roles
        ibkr_order_map: IBKROrderMap
        _by_symbol: dict[str, _Route]

        def _request_quotes(self, ib: Any, route: _Route, force: bool) -> None: ...

        def _request_depth(self, ib: Any, route: _Route, depth: int, force: bool) -> None: ...

    def _init_errors(self) -> None:
        self._last_errors: dict[int, tuple[int, str]] = {}  # code -> (reqId, message)
        self._farm_down = False

    def _on_error(self, ib: Any, req_id: int, code: int, message: str,
                  contract: Any = None) -> None:
        if ib is not self._ib:
            return
        self.ib_counters[f"error_{code}"] += 1
        self._last_errors[code] = (req_id, message)
        if code in _CONNECTION_LOST:
            self._link_down = True
            self._link_restored.clear()
            self.handle_connection_error(f"IB error {code}: {message}")
        elif code in _RESTORED:
            self._on_restored(ib, data_lost=code == 1101)
        elif code in _FARM_LOST:
            if not self._farm_down:
                self.ib_counters["farm_outages"] += 1
            self._farm_down = True
            log.warning("%s: IB data farm lost (%d): %s", self.name, code, message)
        elif code in _FARM_OK:
            if self._farm_down:
                self._farm_down = False
                restored = time.monotonic()
                log.info("%s: IB data farm restored (%d); watching the feed", self.name, code)
                asyncio.get_running_loop().call_later(
                    self.settings.farm_watchdog, self._farm_watchdog, ib, restored)
        elif code in _NOT_CONNECTED:
            self._lost(ib, f"IB error {code}: {message}")
        elif code in _PACING:
            self.ib_counters["pacing_violations"] += 1
            log.warning("%s: IB pacing violation %d reached TWS: %s", self.name, code, message)
        elif code in _CANCEL_REJECTED:
            cid = self.ibkr_order_map.by_order_id(req_id)
            order = self.orders.get(cid) if cid else None
            if order is not None:
                self.reject_cancel(order.client_order_id, f"IB error {code}: {message}")
        elif contract is not None and code not in (202,) and not 2100 <= code < 2200:
            log.warning("%s: IB error %d on %s: %s", self.name, code,
                        getattr(contract, "symbol", "?"), message)

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

    def _farm_watchdog(self, ib: Any, restored: float) -> None:
        """After 2104/2106: request market data again for any feed still silent."""
        if ib is not self._ib or self._farm_down:
            return
        for route in list(self._by_symbol.values()):
            if route.wants_quotes and route.last_tick < restored:
                self._request_quotes(ib, route, force=True)
                self.ib_counters["md_rerequests"] += 1
                log.warning("%s: no ticks for %s after the data farm came back; market data "
                            "requested again", self.name, route.symbol)
            if route.depth and route.last_dom < restored:
                self._request_depth(ib, route, route.depth, force=True)
                self.ib_counters["md_rerequests"] += 1
