"""The built-in ``sim`` connector: a paper venue registered like any third-party plugin.

It connects to an in-process :class:`~stockfish_core.sim_venue.SimVenue` (seeded random
walk prices for any listed symbol, L2 books, bars, trades, news and macro events, market /
limit / stop orders with fills and partial fills) and offers the venue's fault injection
through ``connector.venue``.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import NotConnectedError, OrderNotSentError, SubscriptionError
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
    now_ns,
)
from stockfish_core.orders import Fill, Order, OrderStatus
from stockfish_core.sim_plugin import CAPABILITIES, SimSettings
from stockfish_core.sim_remote import NoAnswerError, RemoteVenue
from stockfish_core.sim_venue import SimVenue

__all__ = ["SimConnector", "SimSettings"]

log = logging.getLogger(__name__)

_STATUS = {
    "SUBMITTED": OrderStatus.SUBMITTED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
}


class SimConnector(BaseConnector):
    """Connector to an in-process paper venue."""

    connector_type = "sim"
    capabilities = CAPABILITIES
    settings_class = SimSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: SimSettings = self.settings
        self.venue: Any
        if s.address:
            self.venue = RemoteVenue(s.address, timeout=max(2.0, 2 * s.heartbeat_interval))
        else:
            self.venue = SimVenue.get(s.venue, seed=s.seed, tick_interval=s.tick_interval,
                                      listed=s.listed or None, top_size=s.top_size)
            self.venue.latency = s.latency
        self._session: _Session | None = None
        self._seq = 0

    # -- lifecycle --------------------------------------------------------------------
    def connect(self) -> bool:
        if self.is_connected and self._session is not None:
            return True
        stale, self._session = self._session, None
        if stale is not None:  # reconnecting after a stale or half-dead session
            stale.closed = True
            try:
                self.venue.disconnect(stale)
            except (ConnectionError, NoAnswerError):
                pass  # the venue went with it
        self.set_status(ConnectorStatus.CONNECTING)
        session = _Session(self)
        try:
            self.venue.connect(session)
        except (ConnectionError, NoAnswerError) as exc:
            return self.connect_failed(str(exc))
        self._session = session
        self.set_status(ConnectorStatus.CONNECTED)
        return True

    def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.closed = True
            try:
                self.venue.disconnect(session)
            except (ConnectionError, NoAnswerError) as exc:  # the venue went already
                log.info("%s: venue gone while disconnecting: %s", self.name, exc)
        self.set_status(ConnectorStatus.DISCONNECTED)

    def is_connected_check(self) -> bool:
        session = self._session
        return session is not None and self.venue.ping(session)

    def _lost(self, reason: str) -> None:
        self._session = None
        self.handle_connection_error(reason)

    # -- subscriptions ----------------------------------------------------------------
    def _subscribe(self, kind: str, data_type: DataType, symbol: str = "",
                   **params: Any) -> bool:
        session = self._session
        if session is None or not self.is_connected:
            raise NotConnectedError(f"{self.name}: not connected")
        if not self.venue.subscribe(session, kind, symbol):
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r}")
        self.record_subscription(data_type, symbol, **params)
        return True

    def subscribe_price(self, symbol: str) -> bool:
        return self._subscribe("price", DataType.PRICE_TICK, symbol)

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        if depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be >= 1, got {depth}")
        return self._subscribe("book", DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)

    def subscribe_bars(self, symbol: str) -> bool:
        """OHLCV bars (every 50 venue ticks)."""
        return self._subscribe("bars", DataType.OHLCV_BAR, symbol)

    def subscribe_trades(self, symbol: str) -> bool:
        return self._subscribe("trades", DataType.TRADE, symbol)

    def subscribe_news(self) -> bool:
        return self._subscribe("news", DataType.NEWS)

    def subscribe_macro(self) -> bool:
        return self._subscribe("macro", DataType.MACRO)

    def resubscribe_one(self, data_type: DataType, symbol: str, params: dict[str, Any]) -> bool:
        if data_type is DataType.OHLCV_BAR:
            return self.subscribe_bars(symbol)
        if data_type is DataType.TRADE:
            return self.subscribe_trades(symbol)
        return super().resubscribe_one(data_type, symbol, params)

    def unsubscribe(self, symbol: str) -> None:
        session = self._session
        if session is not None:
            self.venue.unsubscribe(session, symbol)
        self.forget_subscriptions(symbol)

    # -- normalizers (venue thread) ---------------------------------------------------
    def _update(self, data_type: DataType, symbol: str, payload: Any) -> MarketUpdate:
        self._seq += 1
        ts = now_ns()
        return MarketUpdate(data_type, symbol, self.name, payload, self._seq, ts, ts)

    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        try:
            symbol = data["symbol"]
            values = [data.get(k) for k in ("bid", "ask", "last", "bid_size", "ask_size",
                                            "last_size", "volume")]
            if not isinstance(symbol, str) or not all(
                v is None or (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0)
                for v in values
            ):
                self.record_data_error("bad_value", repr(data)[:200])
                return None
        except (KeyError, TypeError) as exc:
            self.record_data_error("missing_field", f"{exc!r}")
            return None
        return self._update(DataType.PRICE_TICK, symbol, PriceTick(symbol, *values))

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        try:
            symbol = data["symbol"]
            bids = tuple(OrderBookLevel(float(p), float(q)) for p, q in data["bids"])
            asks = tuple(OrderBookLevel(float(p), float(q)) for p, q in data["asks"])
        except (KeyError, TypeError, ValueError) as exc:
            self.record_data_error("bad_book", f"{exc!r}")
            return None
        depth = int(self.subscriptions.get((DataType.ORDERBOOK_SNAPSHOT, symbol), {})
                    .get("depth", 10))
        book = OrderBookSnapshot(symbol, bids[:depth], asks[:depth])
        if book.is_crossed:
            self.record_data_error("crossed_book", symbol)
            return None
        return self._update(DataType.ORDERBOOK_SNAPSHOT, symbol, book)

    def on_news(self, data: Any) -> MarketUpdate | None:
        try:
            news = NewsEvent(headline=str(data["headline"]), source=str(data.get("source", "")),
                             symbols=tuple(data.get("symbols", ())),
                             sentiment=data.get("sentiment"))
        except (KeyError, TypeError) as exc:
            self.record_data_error("bad_news", f"{exc!r}")
            return None
        return self._update(DataType.NEWS, "", news)

    def on_macro(self, data: Any) -> MarketUpdate | None:
        try:
            macro = MacroEvent(indicator=str(data["indicator"]), country=data.get("country", ""),
                               actual=data.get("actual"), forecast=data.get("forecast"),
                               previous=data.get("previous"),
                               importance=int(data.get("importance", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            self.record_data_error("bad_macro", f"{exc!r}")
            return None
        return self._update(DataType.MACRO, "", macro)

    def on_bar(self, data: Any) -> MarketUpdate | None:
        try:
            bar = OHLCVBar(data["symbol"], float(data["open"]), float(data["high"]),
                           float(data["low"]), float(data["close"]), float(data["volume"]))
        except (KeyError, TypeError, ValueError) as exc:
            self.record_data_error("bad_bar", f"{exc!r}")
            return None
        return self._update(DataType.OHLCV_BAR, bar.symbol, bar)

    def on_trade(self, data: Any) -> MarketUpdate | None:
        try:
            trade = Trade(data["symbol"], float(data["price"]), float(data["size"]),
                          data.get("side"), data.get("trade_id"))
        except (KeyError, TypeError, ValueError) as exc:
            self.record_data_error("bad_trade", f"{exc!r}")
            return None
        return self._update(DataType.TRADE, trade.symbol, trade)

    # -- orders -----------------------------------------------------------------------
    def submit_order(self, order: Order) -> None:
        session = self._session
        msg = {"client_order_id": order.client_order_id, "symbol": order.symbol,
               "side": order.side.value, "quantity": order.quantity,
               "order_type": order.order_type.value, "price": order.price,
               "stop_price": order.stop_price, "time_in_force": order.time_in_force.value}
        if session is None:
            raise NotConnectedError(f"{self.name}: not connected")
        try:
            self.venue.submit(session, msg)
        except ConnectionError as exc:  # the venue never took it: a definite outcome
            raise OrderNotSentError(str(exc), order) from exc

    def submit_cancel(self, order: Order) -> bool:
        session = self._session
        if session is None:
            raise NotConnectedError(f"{self.name}: not connected")
        try:
            return self.venue.cancel(session, order.client_order_id)
        except ConnectionError as exc:
            raise NotConnectedError(f"{self.name}: {exc}") from exc

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        session = self._session
        if session is None:
            return set()
        ids = [o.client_order_id for o in orders]
        truth = self.venue.query(ids)
        self.venue.attach(session, ids)
        answered = set()
        for cid, state in truth.items():
            answered.add(cid)
            if state is None:
                self.apply_order_status(cid, OrderStatus.REJECTED,
                                        reason="the venue never received this order")
                continue
            for fill in state["fills"]:
                self.apply_execution(cid, self._fill(fill, state["venue_order_id"]))
            status = _STATUS.get(state["status"])
            if status is not None and status not in (OrderStatus.PARTIALLY_FILLED,
                                                     OrderStatus.FILLED):
                self.apply_order_status(cid, status, venue_order_id=state["venue_order_id"],
                                        reason=state["reason"])
        return answered

    @staticmethod
    def _fill(fill: dict[str, Any], venue_order_id: str | None) -> Fill:
        return Fill(fill["exec_id"], float(fill["quantity"]), float(fill["price"]),
                    int(fill["ts"]), venue_order_id=venue_order_id)

    def on_report(self, report: dict[str, Any]) -> None:
        cid = report["client_order_id"]
        kind = report["kind"]
        if kind == "FILL":
            self.apply_execution(cid, self._fill(report["fill"], report["venue_order_id"]))
        elif kind == "CANCEL_REJECTED":
            self.reject_cancel(cid, report["reason"])
        else:
            self.apply_order_status(cid, _STATUS[kind], venue_order_id=report["venue_order_id"],
                                    reason=report["reason"])


class _Session:
    """The connector's end of a venue connection; callbacks run on the venue thread."""

    __slots__ = ("closed", "connector", "handlers", "lock")

    def __init__(self, connector: SimConnector) -> None:
        self.connector = connector
        self.closed = False
        self.lock = threading.Lock()
        c = connector
        self.handlers = {"price": c.on_price_tick, "book": c.on_orderbook, "news": c.on_news,
                         "macro": c.on_macro, "bars": c.on_bar, "trades": c.on_trade}

    def on_venue_market(self, kind: str, data: dict[str, Any]) -> None:
        if self.closed:
            return
        connector = self.connector
        connector.stats.updates_received += 1
        update = self.handlers[kind](data)
        if update is not None:
            connector.push_update(update)

    def on_venue_report(self, report: dict[str, Any]) -> None:
        if not self.closed:
            self.connector.record_heartbeat()
            self.connector.on_report(report)

    def on_venue_heartbeat(self) -> None:
        if not self.closed:
            self.connector.record_heartbeat()

    def on_venue_disconnect(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.connector._lost(reason)
