"""The ``rest`` connector: a polling HTTP JSON venue, written against the public API only.

One poll thread per session asks the venue, every ``poll_interval``, for the quotes and
books of the subscribed symbols and for the order events since the last one seen. Each
successful poll is a heartbeat; ``max_failed_polls`` failures in a row (timeout, refused,
HTTP 5xx) report the venue lost through :meth:`handle_connection_error`, which flags open
orders unknown-outcome and reconnects (``connect`` again, resubscribe, then
:meth:`request_order_states` asks the venue about each open order).

This module is the façade and the session (HTTP, connection, the poll loop); market data is
in :mod:`.market_data`, orders in :mod:`.execution`.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import orjson
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.models import DataType

from stockfish_example_rest.execution import ExecutionMixin
from stockfish_example_rest.market_data import MarketDataMixin
from stockfish_example_rest.plugin import CAPABILITIES
from stockfish_example_rest.settings import RestSettings
from stockfish_example_rest.venue_http import HTTPAnswer, VenueUnreachableError, request

__all__ = ["RestConnector", "VenueUnreachableError"]


class _Session:
    """One connection's poll thread and its stop flag (a reconnect makes a new one)."""

    __slots__ = ("stop", "thread")

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


class RestConnector(MarketDataMixin, ExecutionMixin, BaseConnector):
    """Connector to a polling HTTP JSON venue (see ``stockfish_example_rest.testing``)."""

    connector_type = "rest"
    capabilities = CAPABILITIES
    settings_class = RestSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: RestSettings = self.settings
        self._base = f"http://{s.host}:{s.port}"
        self._headers = {"Content-Type": "application/json"}
        if s.api_key is not None:
            self._headers["X-API-Key"] = s.api_key.reveal()
        self._session: _Session | None = None
        self._event_cursor = 0  # last order event seen (poll thread only)
        self._last_seq: dict[str, int] = {}  # newest quote seq per symbol (poll thread)

    # -- HTTP -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> HTTPAnswer:
        return request(self._base, self._headers, self.settings.request_timeout, method, path,
                       body=body)

    def _json(self, answer: HTTPAnswer, kind: str) -> Any:
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            self.record_data_error(kind, answer.body[:200].decode("utf-8", "replace"))
            return None

    # -- lifecycle ------------------------------------------------------------------------
    def connect(self) -> bool:
        session = self._session
        if self.is_connected and session is not None and not session.stop.is_set():
            return True
        self._end_session()
        self.set_status(ConnectorStatus.CONNECTING)
        try:
            answer = self._request("GET", "/health")
            if answer.code != 200:
                raise VenueUnreachableError(f"GET /health: HTTP {answer.code}", delivered=True)
        except VenueUnreachableError as exc:
            return self.connect_failed(str(exc))
        self._last_seq.clear()  # a restarted venue numbers its quotes from zero again
        session = _Session()
        session.thread = threading.Thread(target=self._poll_loop, args=(session,),
                                          name=f"{self.name}-poll", daemon=True)
        self._session = session
        self.set_status(ConnectorStatus.CONNECTED)
        session.thread.start()
        return True

    def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.stop.set()
        thread = session.thread
        if thread is not None and thread is not threading.current_thread():
            # A poll takes at most request_timeout; then the thread sees the flag.
            thread.join(self.settings.request_timeout + 1.0)

    def disconnect(self) -> None:
        self._end_session()
        self.set_status(ConnectorStatus.DISCONNECTED)

    def is_connected_check(self) -> bool:
        session = self._session
        if session is None or session.stop.is_set():
            return False
        try:
            return self._request("GET", "/health").code == 200
        except VenueUnreachableError:
            return False

    # -- polling (the connector's I/O thread) ---------------------------------------------
    def _poll_loop(self, session: _Session) -> None:
        s: RestSettings = self.settings
        failures = 0
        while not session.stop.wait(s.poll_interval):
            try:
                self._poll_once(session)
            except VenueUnreachableError as exc:
                failures += 1
                if failures >= s.max_failed_polls and not session.stop.is_set():
                    session.stop.set()
                    self.handle_connection_error(
                        f"venue unreachable after {failures} failed polls: {exc}")
                    return
                continue
            failures = 0
            self.record_heartbeat()

    def _poll_once(self, session: _Session) -> None:
        keys = list(self.subscriptions_snapshot().items())
        prices = [sym for (kind, sym), _ in keys if kind is DataType.PRICE_TICK]
        books = [(sym, int(p.get("depth", 10))) for (kind, sym), p in keys
                 if kind is DataType.ORDERBOOK_SNAPSHOT]
        if prices:
            answer = self._request("GET", "/quotes?symbols=" + quote(",".join(prices)))
            if answer.code == 200:
                data = self._json(answer, "bad_json")
                quotes = data.get("quotes") if isinstance(data, dict) else None
                if isinstance(quotes, list):
                    self._deliver_quotes(session, quotes)
                elif data is not None:
                    self.record_data_error("bad_quotes", repr(data)[:200])
        for symbol, depth in books:
            answer = self._request("GET", f"/book/{quote(symbol)}?depth={depth}")
            if answer.code == 200 and not session.stop.is_set():
                self.stats.updates_received += 1
                update = self.on_orderbook(self._json(answer, "bad_json"))
                if update is not None:
                    self.push_update(update)
        self._poll_events(session)

