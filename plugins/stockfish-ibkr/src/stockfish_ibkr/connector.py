"""``IBKRConnector``: Interactive Brokers through ib_insync (or ib_async).

Threading: the IB client runs on an asyncio event loop in the connector's own thread. Every
public method is synchronous and thread-safe: it paces itself (our own limiter, so that no
pacing violation reaches TWS), then hands the work to the loop with
``asyncio.run_coroutine_threadsafe`` and waits a bounded time. Nothing waits on the loop:
market data, order events and errors arrive there as ib_insync events and are normalized in
place.

Reliability: a missed heartbeat (reqCurrentTime) or a dropped socket starts the base class's
reconnect (backoff, re-qualify, resubscribe, reconcile open orders and executions since the
drop); error 1100 waits for TWS's own 1101/1102; a data farm that comes back (2104/2106)
without the ticks resuming gets its market data requested again. Order ids are never
reused, even when TWS rolls its next valid id back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import logging
import math
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime, timezone
from typing import Any, TypeVar

import attrs
from stockfish_core.connector import BaseConnector, Capabilities, ConnectorStatus
from stockfish_core.errors import (
    ConnectorError,
    NotConnectedError,
    OrderNotSentError,
    SubscriptionError,
)
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    NewsEvent,
    OHLCVBar,
    now_ns,
)
from stockfish_core.orders import Order, OrderStatus, OrderType

from stockfish_ibkr.contracts import resolve_contract_spec
from stockfish_ibkr.normalize import (
    fill_from_execution,
    map_order_status,
    normalize_book,
    normalize_quote,
)
from stockfish_ibkr.order_map import IBKROrderMap
from stockfish_ibkr.pacing import HistoricalPacer, MessagePacer, PacingError
from stockfish_ibkr.settings import IBKRSettings, mask_account

__all__ = ["CAPABILITIES", "IB_COUNTERS", "ClientIdInUseError", "IBKRConnector"]

log = logging.getLogger(__name__)
T = TypeVar("T")

CAPABILITIES = Capabilities(
    data_types=frozenset({DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.OHLCV_BAR,
                          DataType.NEWS}),
    order_types=frozenset(OrderType),
)
_IB_ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
                   OrderType.STOP_LIMIT: "STP LMT"}
_CONNECTION_LOST = {1100}
_RESTORED = {1101, 1102}
_FARM_LOST = {2103, 2105}
_FARM_OK = {2104, 2106}
_NOT_CONNECTED = {502, 504}
_PACING = {100, 162, 420}
_CANCEL_REJECTED = {135, 161, 10147, 10148}
_BAR_SECONDS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 604800,
                "month": 2592000}
# Reported by get_stats()["ibkr"] from the start (at 0), so that a reader never meets a
# missing key because the event it counts has not happened yet.
IB_COUNTERS = (
    "heartbeats_sent", "heartbeats_missed", "requests_cut_by_disconnect", "reconciliations",
    "reconcile_rechecks", "executions_reconciled", "md_rerequests", "farm_outages",
    "pacing_refusals", "pacing_violations", "qualifications", "unknown_symbols",
    "perm_ids_bound", "foreign_orders", "foreign_executions", "commission_reports",
    "sentinel_values", "empty_quotes", "historical_cache_hits", "historical_pacing_waits",
    "reconcile_busy", "request_timeouts",
)


class ClientIdInUseError(ConnectorError):
    """TWS refused the API session: the client id is already connected (IB error 326)."""


class _HandshakeClosedError(ConnectionError):
    """The socket closed before the API handshake and initial sync completed."""


@attrs.define(slots=True, eq=False)
class _Route:
    """Where one contract's ticker updates go (hot path lookup by ``id(ticker)``)."""

    symbol: str
    contract: Any
    ticker: Any = None
    price: bool = False  # a PRICE_TICK subscription
    l1_book: bool = False  # a depth-1 book made from the quote
    md_on: bool = False  # reqMktData active in this session
    depth: int = 0  # rows of an active reqMktDepth (0: none)
    smart_depth: bool = False
    bars: Any = None  # RealTimeBarList
    last_tick: float = 0.0
    last_dom: float = 0.0
    md_stale: bool = False  # market data lost (1101): must be requested again
    depth_stale: bool = False
    bars_stale: bool = False

    @property
    def wants_quotes(self) -> bool:
        return self.price or self.l1_book


class _LoopThread:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        if not self._ready.wait(5.0):
            raise ConnectorError(f"{name}: event loop thread did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                with contextlib.suppress(Exception):
                    self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.loop.is_closed()

    def stop(self, timeout: float) -> None:
        if self.alive:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)


class IBKRConnector(BaseConnector):
    """Connector to TWS / IB Gateway. See the module docstring for the threading model."""

    connector_type = "ibkr"
    capabilities = CAPABILITIES
    #: An order TWS has no record of is declared never received only when it is still
    #: unknown this many seconds later: bytes written into a connection that stalled can
    #: reach TWS after the client has given that connection up and reconnected.
    unknown_order_grace: float = 2.0
    # The reqCurrentTime probe (``_heartbeat``) already reports a silent connection within
    # two intervals, from the loop thread that owns the socket; the base watchdog would race
    # it and report the same stall from another thread.
    watchdog = False
    settings_class = IBKRSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: IBKRSettings = self.settings
        if s.readonly:
            self.read_only = True
        self.ibkr_order_map = IBKROrderMap()
        self.ib_counters: Counter[str] = Counter(dict.fromkeys(IB_COUNTERS, 0))
        self._mod: Any = None
        self._loop_thread: _LoopThread | None = None
        self._connect_lock = threading.Lock()
        self._reconcile_lock = threading.Lock()
        self._ib: Any = None  # the live IB instance; written on the loop thread only
        self._session = 0
        self._hb_task: asyncio.Task[None] | None = None
        self._time_request: asyncio.Future[Any] | None = None
        self._drop_reason: str | None = None
        self._contracts: dict[str, Any] = {}  # symbol -> qualified contract
        self._qualified_in: dict[str, int] = {}  # symbol -> session it was qualified in
        self._routes: dict[int, _Route] = {}  # id(ticker) -> route (hot path)
        self._by_symbol: dict[str, _Route] = {}
        self._bar_routes: dict[int, _Route] = {}  # id(RealTimeBarList) -> route
        self._news_on = False
        self._trades: dict[str, Any] = {}  # client order id -> ib Trade
        # IB session -> future resolved when its connection ends (loop thread only)
        self._ends: weakref.WeakKeyDictionary[Any, asyncio.Future[str]] = \
            weakref.WeakKeyDictionary()
        # client order id -> monotonic time TWS was first found to have no record of it
        self._unseen_since: dict[str, float] = {}
        self._last_errors: dict[int, tuple[int, str]] = {}  # code -> (reqId, message)
        self._link_down = False
        self._link_restored = threading.Event()
        self._farm_down = False
        self._seq = 0
        self._pacer = MessagePacer(s.max_messages_per_second, self.wait_closing)
        self._hist_pacer = HistoricalPacer(s.historical_max_requests, s.historical_window,
                                           s.historical_identical_interval)
        self._hist_cache: dict[tuple[Any, ...], tuple[float, list[OHLCVBar]]] = {}
        self.server_version = 0
        log.info("%s: IBKR connector for %s:%d client_id=%d account=%s backend=%s", self.name,
                 s.host, s.port, s.client_id, mask_account(s.account), s.backend)

    # ================================================================== plumbing
    def _backend(self) -> Any:
        if self._mod is None:
            name = self.settings.backend
            try:
                self._mod = _import_backend(name)
            except ImportError as exc:
                hint = "pip install 'stockfish-ibkr[ib_async]'" if name == "ib_async" else \
                    "pip install ib_insync"
                raise ConnectorError(f"{self.name}: backend {name!r} is not installed "
                                     f"({exc}); {hint}") from exc
        return self._mod

    def _ensure_loop(self) -> _LoopThread:
        lt = self._loop_thread
        if lt is None or not lt.alive:
            self._backend()  # import on a caller thread, before the loop needs it
            lt = _LoopThread(f"{self.name}-ib-loop")
            self._loop_thread = lt
        return lt

    def _on_loop(self) -> bool:
        lt = self._loop_thread
        return lt is not None and threading.current_thread() is lt.thread

    def _run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any,
             timeout: float | None = None) -> T:
        """Run ``fn(*args)`` on the IB loop and wait at most ``timeout`` seconds."""
        lt = self._ensure_loop()
        if threading.current_thread() is lt.thread:
            raise ConnectorError(f"{self.name}: blocking call made on the IB event loop")
        limit = self.settings.request_timeout if timeout is None else timeout
        future = asyncio.run_coroutine_threadsafe(fn(*args), lt.loop)
        try:
            return future.result(limit)
        except concurrent.futures.TimeoutError:
            # Since 3.11 this is also asyncio.TimeoutError: the coroutine's own bounded wait
            # for TWS may be what ran out, not ours.
            if not future.done():
                future.cancel()
                self.ib_counters["request_timeouts"] += 1
                raise ConnectorError(f"{self.name}: IB request timed out after "
                                     f"{limit:g}s") from None
            if future.cancelled():
                raise ConnectorError(f"{self.name}: IB request cancelled") from None
            inner = future.exception()
            if inner is None:
                return future.result()  # finished just as our wait ran out
            if isinstance(inner, TimeoutError):
                self.ib_counters["request_timeouts"] += 1
                raise ConnectorError(f"{self.name}: no answer from TWS in time"
                                     f"{': ' + str(inner) if str(inner) else ''}") from inner
            raise inner from None
        except ConnectionError as exc:
            # The session ended under the request (socket closed, or closed by us after a
            # missed heartbeat): nothing more will come from it.
            raise NotConnectedError(f"{self.name}: connection to TWS lost "
                                    f"({type(exc).__name__}: {exc})") from exc

    def _run_sync(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        async def call() -> T:
            return fn(*args)

        return self._run(call, timeout=timeout)

    def _live_ib(self) -> Any:
        ib = self._ib
        if ib is None or not ib.isConnected():
            raise NotConnectedError(f"{self.name}: not connected to TWS")
        return ib

    def _require_connected(self) -> None:
        if not self.is_connected or self._ib is None:
            raise NotConnectedError(f"{self.name}: not connected ({self.status.value})")

    def _spawn(self, target: Callable[[], Any], name: str) -> None:
        """Run blocking follow-up work off the loop thread."""
        def run() -> None:
            try:
                target()
            except Exception as exc:
                log.warning("%s: %s failed: %s", self.name, name, exc)

        threading.Thread(target=run, name=f"{self.name}-{name}", daemon=True).start()

    def _pace(self, n: int = 1) -> None:
        try:
            self._pacer.acquire(n, timeout=self.settings.request_timeout)
        except PacingError:
            self.ib_counters["pacing_refusals"] += 1
            raise

    # ================================================================== lifecycle
    def connect(self) -> bool:
        """Connect to TWS (API handshake, initial sync); True once CONNECTED.

        Returns False on a refused or timed-out connection (``get_stats()['last_error']``
        says why); raises :class:`ClientIdInUseError` when TWS reports error 326.
        """
        with self._connect_lock:
            if self.is_connected and self._ib is not None and self._ib.isConnected():
                return True
            if self._link_down and self._ib is not None and self._ib.isConnected():
                return self._await_link_restored()
            self.set_status(ConnectorStatus.CONNECTING)
            s = self.settings
            try:
                self._run(self._connect_async, timeout=2 * s.connect_timeout + 5.0)
            except ClientIdInUseError as exc:
                self.connect_failed(str(exc))
                raise
            except Exception as exc:
                self.connect_failed(self._describe_connect_error(exc))
                return False
            self.set_status(ConnectorStatus.CONNECTED)
            log.info("%s: connected to %s:%d (server version %d, %s)", self.name, s.host,
                     s.port, self.server_version, s.backend)
            return True

    def _describe_connect_error(self, exc: BaseException) -> str:
        s = self.settings
        where = f"{s.host}:{s.port}"
        if isinstance(exc, ConnectorError) and isinstance(exc.__cause__, OSError):
            exc = exc.__cause__  # _run's wrapping of a socket error
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused by {where}: is TWS / IB Gateway running with the " \
                   f"API enabled on that port?"
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or isinstance(
                exc.__cause__, TimeoutError):
            return f"no API handshake from {where} within {s.connect_timeout:g}s"
        if isinstance(exc, _HandshakeClosedError):
            return f"{where} closed the connection during the API handshake ({exc})"
        return f"cannot connect to {where}: {type(exc).__name__}: {exc}"

    def _await_link_restored(self) -> bool:
        """After 1100 the socket to TWS is fine: wait for TWS's 1101/1102."""
        if self._link_restored.wait(self.settings.connect_timeout) and not self._link_down:
            self.set_status(ConnectorStatus.CONNECTED, "IB connectivity restored")
            return True
        return False

    async def _connect_async(self) -> None:
        s: IBKRSettings = self.settings
        mod = self._backend()
        old, self._ib = self._ib, None
        if old is not None:
            self._stop_heartbeat()
            self._end_session(old, "replaced by a new connection")
            with contextlib.suppress(Exception):
                old.disconnect()
        ib = mod.IB()
        loop = asyncio.get_running_loop()
        in_use: asyncio.Future[str] = loop.create_future()
        ended = self._track_session_end(ib)

        def on_error(req_id: int, code: int, message: str, contract: Any = None) -> None:
            if code == 326 and not in_use.done():
                in_use.set_result(message)

        ib.errorEvent += on_error
        self._attach(ib)
        task = asyncio.ensure_future(ib.connectAsync(
            s.host, s.port, clientId=s.client_id, timeout=s.connect_timeout,
            readonly=s.readonly, account=s.account_id))
        try:
            done, _ = await asyncio.wait({task, in_use, ended},
                                         timeout=2 * s.connect_timeout + 1.0,
                                         return_when=asyncio.FIRST_COMPLETED)
            if in_use in done:
                task.cancel()
                raise ClientIdInUseError(
                    f"{self.name}: TWS refused client id {s.client_id}: IB error 326 "
                    f"({in_use.result()}); set another client_id or close the other session")
            if task not in done:
                task.cancel()
                if ended in done:
                    # The backend would wait out its whole timeout for a handshake that can
                    # no longer come (a socket closed while CONNECTING raises nothing).
                    raise _HandshakeClosedError(ended.result() or "peer closed the connection")
                raise asyncio.TimeoutError()
            task.result()
            if ended.done():
                raise _HandshakeClosedError(ended.result() or "closed after the initial sync")
            if self.closing:
                # close() ran while this reconnect was in the handshake and found no session
                # to end: kept, this one would hold the client id at TWS until the process
                # exits. No await from here to ``self._ib = ib``, so no later close misses it.
                raise ConnectorError(f"{self.name}: closed while connecting")
        except BaseException:
            self._end_session(ib, "connect failed")
            with contextlib.suppress(Exception):
                ib.disconnect()
            raise
        finally:
            ib.errorEvent -= on_error
        self._session += 1
        self._routes.clear()
        self._by_symbol.clear()
        self._bar_routes.clear()
        self._news_on = False
        self._link_down = False
        self._farm_down = False
        self.server_version = ib.client.serverVersion()
        # Never hand out an order id used before, whatever nextValidId said.
        ib.client.updateReqId(self.ibkr_order_map.high_water_mark + 1)
        self._pacer.record(8)  # startApi and ib_insync's own initial sync requests
        code = s.market_data_type_code
        if code != 1:
            ib.reqMarketDataType(code)
            self._pacer.record()
        self._ib = ib
        self._drop_reason = None
        self._time_request = None
        self._hb_task = asyncio.ensure_future(self._heartbeat(ib))

    def disconnect(self) -> None:
        """Close the API session (bounded) and set DISCONNECTED."""
        lt = self._loop_thread
        if lt is not None and lt.alive and not self._on_loop():
            with contextlib.suppress(Exception):
                self._run_sync(self._disconnect_on_loop, timeout=5.0)
        elif self._on_loop():
            self._disconnect_on_loop()
        self._link_down = False
        self.set_status(ConnectorStatus.DISCONNECTED)

    def _disconnect_on_loop(self) -> None:
        ib, self._ib = self._ib, None
        self._stop_heartbeat()
        self._routes.clear()
        self._by_symbol.clear()
        self._bar_routes.clear()
        if ib is not None:
            self._end_session(ib, "disconnected by the client")
            ib.disconnect()

    def close(self, timeout: float = 5.0) -> None:
        """Stop reconnecting, disconnect and stop the IB loop thread."""
        try:
            super().close(timeout)
        finally:
            lt = self._loop_thread
            if lt is not None and lt.alive and not self._on_loop():
                # Once more now the reconnect thread has stopped: a session it opened
                # meanwhile would otherwise keep its socket to TWS open.
                with contextlib.suppress(Exception):
                    self._run_sync(self._disconnect_on_loop, timeout=timeout)
            self._loop_thread = None
            if lt is not None:
                lt.stop(timeout)

    def is_connected_check(self) -> bool:
        """Probe TWS with reqCurrentTime (bounded by the heartbeat interval)."""
        if not self.is_connected or self._ib is None or self._on_loop():
            return False
        limit = min(2.0, self.settings.heartbeat_interval)
        try:
            self._pace()
        except PacingError:
            return False

        async def probe() -> bool:
            ib = self._live_ib()
            await self._ask(ib, self._current_time(ib, paced=True), limit)
            return True

        try:
            return self._run(probe, timeout=limit + 1.0)
        except Exception:
            return False

    # ================================================================== liveness
    def _current_time(self, ib: Any, paced: bool = False) -> asyncio.Future[Any]:
        """One reqCurrentTime in flight at a time: ib_insync keys the reply by name, so a
        second concurrent request would orphan the first (and fake a missed heartbeat)."""
        pending = self._time_request
        if pending is None or pending.done():
            if not paced:
                self._pacer.record()
            pending = asyncio.ensure_future(ib.reqCurrentTimeAsync())
            self._time_request = pending
        return asyncio.shield(pending)

    async def _heartbeat(self, ib: Any) -> None:
        interval = self.settings.heartbeat_interval
        while ib is self._ib:
            await asyncio.sleep(interval)
            if ib is not self._ib or not ib.isConnected():
                return
            self.ib_counters["heartbeats_sent"] += 1
            try:
                await self._ask(ib, self._current_time(ib), interval)
            except asyncio.TimeoutError:
                self.ib_counters["heartbeats_missed"] += 1
                self._lost(ib, f"heartbeat: no reply to reqCurrentTime within {interval:g}s")
                return
            except (ConnectionError, asyncio.CancelledError):
                return
            self.record_heartbeat()

    def _stop_heartbeat(self) -> None:
        task, self._hb_task = self._hb_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _lost(self, ib: Any, reason: str) -> None:
        """The connection is dead (loop thread): cut the socket, report, reconnect."""
        if ib is not self._ib:
            return
        self._drop_reason = reason
        ib.disconnect()  # emits disconnectedEvent -> _on_disconnected and the session's end

    # ------------------------------------------------------------------ session ends
    def _track_session_end(self, ib: Any) -> asyncio.Future[str]:
        """A future resolved (with a reason) when ``ib``'s connection ends, however it ends.

        When the client closes the socket itself (a missed heartbeat, 502/504, a new
        connect), ib_insync and ib_async reset their request table before the socket's
        close is seen, so every request still in flight on that session stays pending for
        ever. Requests awaited through :meth:`_ask` fail at once instead."""
        ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ends[ib] = ended

        def on_socket_closed(msg: str = "") -> None:
            self._end_session(ib, msg or "socket closed")

        def on_disconnected() -> None:
            self._end_session(ib, "disconnected")

        ib.client.conn.disconnected += on_socket_closed
        ib.disconnectedEvent += on_disconnected
        return ended

    def _end_session(self, ib: Any, reason: str) -> None:
        ended = self._ends.get(ib)
        if ended is not None and not ended.done():
            ended.set_result(reason)

    async def _ask(self, ib: Any, request: Awaitable[T], timeout: float) -> T:
        """Await one request to TWS made on session ``ib``.

        Returns its answer; raises ConnectionError as soon as that session ends (see
        :meth:`_track_session_end`), asyncio.TimeoutError after ``timeout`` seconds."""
        answer = asyncio.ensure_future(request)
        ended = self._ends.get(ib)
        if ended is None or ended.done():
            answer.cancel()
            raise ConnectionError(f"the connection to TWS has ended "
                                  f"({ended.result() if ended else 'unknown session'})")
        try:
            done, _ = await asyncio.wait({answer, ended}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            answer.cancel()
            raise
        if answer in done:
            return answer.result()
        answer.cancel()
        if ended in done:
            self.ib_counters["requests_cut_by_disconnect"] += 1
            raise ConnectionError(f"the connection to TWS ended before it answered "
                                  f"({ended.result()})")
        raise asyncio.TimeoutError(f"no answer from TWS within {timeout:g}s")

    def _on_disconnected(self, ib: Any) -> None:
        if ib is not self._ib:
            return  # an old session, or one we closed on purpose
        self._ib = None
        self._stop_heartbeat()
        self._routes.clear()
        self._by_symbol.clear()
        self._bar_routes.clear()
        reason = self._drop_reason or "TWS closed the API connection"
        self._drop_reason = None
        self._link_down = False
        self.handle_connection_error(reason)

    # ================================================================== events
    def _attach(self, ib: Any) -> None:
        p = functools.partial
        ib.pendingTickersEvent += p(self._on_tickers, ib)
        ib.barUpdateEvent += p(self._on_bar_update, ib)
        ib.newsBulletinEvent += p(self._on_bulletin, ib)
        ib.openOrderEvent += p(self._on_open_order, ib)
        ib.orderStatusEvent += p(self._on_order_status_event, ib)
        ib.execDetailsEvent += p(self._on_exec_details, ib)
        ib.commissionReportEvent += p(self._on_commission, ib)
        ib.errorEvent += p(self._on_error, ib)
        ib.disconnectedEvent += p(self._on_disconnected, ib)

    def _next_update(self, data_type: DataType, symbol: str, payload: Any,
                     ts: int) -> MarketUpdate:
        self._seq += 1
        return MarketUpdate(data_type, symbol, self.name, payload, self._seq, ts, ts)

    def _on_tickers(self, ib: Any, tickers: Any) -> None:
        """Hot path: one call per TCP packet with every ticker it touched."""
        if ib is not self._ib:
            return
        routes = self._routes
        stats = self.stats
        ts = now_ns()
        mono = time.monotonic()
        for ticker in tickers:
            route = routes.get(id(ticker))
            if route is None:
                continue
            ticks = ticker.ticks
            if ticks and route.wants_quotes:
                stats.updates_received += len(ticks)
                route.last_tick = mono
                if route.price:
                    tick, kind, sentinels = normalize_quote(
                        route.symbol, ticker.bid, ticker.ask, ticker.last, ticker.bidSize,
                        ticker.askSize, ticker.lastSize, ticker.volume, ts)
                    if sentinels:
                        self.ib_counters["sentinel_values"] += sentinels
                    if tick is None:
                        if kind == "empty_quote":  # only IB's "no quote" values so far
                            self.ib_counters["empty_quotes"] += 1
                        else:
                            self.record_data_error(kind or "bad_quote", route.symbol)
                    else:
                        self.push_update(self._next_update(DataType.PRICE_TICK, route.symbol,
                                                           tick, ts))
                if route.l1_book:
                    self._publish_l1(route, ticker, ts)
            dom = ticker.domTicks
            if dom and route.depth:
                stats.updates_received += len(dom)
                route.last_dom = mono
                book, kind = normalize_book(route.symbol, ticker.domBids, ticker.domAsks,
                                            route.depth, ts)
                if book is None:
                    self._book_rejected(kind, route.symbol)
                else:
                    self.push_update(self._next_update(DataType.ORDERBOOK_SNAPSHOT,
                                                       route.symbol, book, ts))

    def _publish_l1(self, route: _Route, ticker: Any, ts: int) -> None:
        bid, ask = ticker.bid, ticker.ask
        bids = [(bid, ticker.bidSize)] if isinstance(bid, float) and bid > 0 else []
        asks = [(ask, ticker.askSize)] if isinstance(ask, float) and ask > 0 else []
        bids = [(p, q if q >= 0 else 0.0) for p, q in bids if not math.isnan(q)]
        asks = [(p, q if q >= 0 else 0.0) for p, q in asks if not math.isnan(q)]
        book, kind = normalize_book(route.symbol, bids, asks, 1, ts)
        if book is None:
            self._book_rejected(kind, route.symbol)
            return
        self.push_update(self._next_update(DataType.ORDERBOOK_SNAPSHOT, route.symbol, book, ts))

    def _book_rejected(self, kind: str | None, symbol: str) -> None:
        # IB sends a book as one message per level: between two packets it can be crossed
        # or empty for a moment. That is not bad data; the next packet completes it.
        if kind in ("crossed_book", "empty_book"):
            self.ib_counters[f"transient_{kind}s"] += 1
        else:
            self.record_data_error(kind or "bad_book", symbol)

    def _on_bar_update(self, ib: Any, bars: Any, has_new_bar: bool) -> None:
        if ib is not self._ib or not has_new_bar or not bars:
            return
        route = self._bar_routes.get(id(bars))
        if route is None:
            return
        self.stats.updates_received += 1
        update = self.on_bar(bars[-1], route.symbol, getattr(bars, "barSize", 5))
        if update is not None:
            self.push_update(update)

    def _on_bulletin(self, ib: Any, bulletin: Any) -> None:
        if ib is not self._ib:
            return
        self.stats.updates_received += 1
        update = self.on_news(bulletin)
        if update is not None:
            self.push_update(update)

    # ------------------------------------------------------------------ order events
    def _client_id_for(self, order_ref: Any, perm_id: Any, order_id: Any,
                       client_id: Any = None) -> str | None:
        if isinstance(order_ref, str) and order_ref in self.orders:
            return order_ref
        omap = self.ibkr_order_map
        if isinstance(perm_id, int) and perm_id:
            cid = omap.by_perm_id(perm_id)
            if cid is not None:
                return cid
        if isinstance(order_id, int) and order_id > 0 and client_id in (None,
                                                                        self.settings.client_id):
            return omap.by_order_id(order_id)
        return None

    def _bind(self, cid: str, order: Any) -> None:
        if self.ibkr_order_map.bind_perm_id(cid, getattr(order, "permId", 0) or 0):
            self.ib_counters["perm_ids_bound"] += 1

    def _on_open_order(self, ib: Any, trade: Any) -> None:
        if ib is not self._ib:
            return
        order = trade.order
        cid = self._client_id_for(order.orderRef, order.permId, order.orderId, order.clientId)
        if cid is None:
            self.ib_counters["foreign_orders"] += 1
            return
        self._bind(cid, order)
        self._trades[cid] = trade
        self._apply_trade_status(cid, trade)

    def _on_order_status_event(self, ib: Any, trade: Any) -> None:
        if ib is not self._ib:
            return
        order = trade.order
        cid = self._client_id_for(order.orderRef, trade.orderStatus.permId or order.permId,
                                  order.orderId, order.clientId)
        if cid is None:
            self.ib_counters["foreign_orders"] += 1
            return
        if trade.orderStatus.permId:
            self.ibkr_order_map.bind_perm_id(cid, trade.orderStatus.permId)
        self._apply_trade_status(cid, trade)

    def _apply_trade_status(self, cid: str, trade: Any) -> None:
        status_text = trade.orderStatus.status
        entry = trade.log[-1] if trade.log else None
        code = getattr(entry, "errorCode", 0) or 0
        status = map_order_status(status_text, code)
        if status is None:
            return
        if status is OrderStatus.SUBMITTED:
            order = self.orders.get(cid)
            if order is not None and order.status is OrderStatus.PARTIALLY_FILLED:
                return  # IB calls a partly filled working order "Submitted": nothing new
        reason = None
        if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) and code:
            reason = f"IB error {code}: {self._error_text(entry)}"
        elif status is OrderStatus.REJECTED:
            reason = f"IB order status {status_text}"
        order_id = trade.order.orderId
        self.apply_order_status(cid, status, venue_order_id=str(order_id) if order_id else None,
                                reason=reason)

    @staticmethod
    def _error_text(entry: Any) -> str:
        message = getattr(entry, "message", "") or ""
        # ib_insync prefixes "Error 201, reqId 7: "; keep TWS's own words
        return message.split(": ", 1)[1] if message.startswith(("Error ", "Warning ")) \
            and ": " in message else message

    def _on_exec_details(self, ib: Any, trade: Any, fill: Any) -> None:
        if ib is not self._ib:
            return
        self._apply_execution(fill, live=True)

    def _apply_execution(self, fill: Any, live: bool) -> None:
        execution = fill.execution
        cid = self._client_id_for(execution.orderRef, execution.permId, execution.orderId,
                                  execution.clientId)
        if cid is None:
            self.ib_counters["foreign_executions"] += 1
            return
        report = getattr(fill, "commissionReport", None)
        commission = getattr(report, "commission", 0.0) or 0.0
        core_fill, kind = fill_from_execution(execution, now_ns(), commission)
        if core_fill is None:
            self.record_data_error(kind or "bad_execution", execution.execId)
            return
        self.ibkr_order_map.bind_perm_id(cid, execution.permId)
        self.apply_execution(cid, core_fill)
        if not live:
            self.ib_counters["executions_reconciled"] += 1

    def _on_commission(self, ib: Any, trade: Any, fill: Any, report: Any) -> None:
        if ib is not self._ib:
            return
        execution = fill.execution
        cid = self._client_id_for(execution.orderRef, execution.permId, execution.orderId,
                                  execution.clientId)
        order = self.orders.get(cid) if cid else None
        value = getattr(report, "commission", 0.0)
        if order is None or not isinstance(value, float) or not math.isfinite(value) \
                or abs(value) >= 1e300:
            return
        if order.apply_commission(report.execId, value):
            self.ib_counters["commission_reports"] += 1

    # ------------------------------------------------------------------ errors
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

    # ================================================================== contracts
    def qualify(self, symbol: str) -> Any:
        """The qualified IB contract for ``symbol`` (once per session, then cached).

        Raises SubscriptionError for a symbol IB does not know (error 200).
        """
        self._require_connected()
        contract = self._contracts.get(symbol)
        if contract is not None and self._qualified_in.get(symbol) == self._session:
            return contract
        spec = resolve_contract_spec(symbol, self.settings)
        self._pace()
        return self._run(self._qualify_async, symbol, spec)

    async def _qualify_async(self, symbol: str, spec: dict[str, Any]) -> Any:
        ib = self._live_ib()
        mod = self._backend()
        session = self._session
        self._last_errors.pop(200, None)
        details = await self._ask(ib, ib.reqContractDetailsAsync(mod.Contract(**spec)),
                                  self.settings.request_timeout)
        if not details:
            _, text = self._last_errors.get(200, (0, "no contract details returned"))
            self.ib_counters["unknown_symbols"] += 1
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r} "
                                    f"({spec.get('secType')} {spec.get('exchange', '')}): "
                                    f"IB error 200: {text}")
        if len(details) > 1:
            options = ", ".join(f"{d.contract.localSymbol}@{d.contract.exchange}"
                                for d in details[:5])
            raise SubscriptionError(f"{self.name}: ambiguous symbol {symbol!r} ({options}); "
                                    f"add it to the `contracts` mapping")
        contract = details[0].contract
        if spec.get("exchange") == "SMART":
            contract.exchange = "SMART"
        self._contracts[symbol] = contract
        self._qualified_in[symbol] = session
        self.ib_counters["qualifications"] += 1
        return contract

    def _route(self, symbol: str, contract: Any) -> _Route:
        route = self._by_symbol.get(symbol)
        if route is None or route.contract is not contract:
            route = _Route(symbol, contract)
            self._by_symbol[symbol] = route
        return route

    # ================================================================== market data
    def subscribe_price(self, symbol: str) -> bool:
        """Stream bid/ask/last with sizes for ``symbol`` as PriceTick updates."""
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        self._run_sync(self._subscribe_quotes_on_loop, symbol, contract, "price")
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def _subscribe_quotes_on_loop(self, symbol: str, contract: Any, kind: str) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        if kind == "price":
            route.price = True
        else:
            route.l1_book = True
        self._request_quotes(ib, route, force=False)

    def _request_quotes(self, ib: Any, route: _Route, force: bool) -> None:
        if route.md_on and not force and not route.md_stale:
            return
        if route.md_on:
            ib.cancelMktData(route.contract)
            self._pacer.record()
        route.ticker = ib.reqMktData(route.contract, "", False, False)
        route.md_on = True
        route.md_stale = False
        route.last_tick = time.monotonic()
        self._routes[id(route.ticker)] = route
        if force:
            self._pacer.record()

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Market depth as OrderBookSnapshot (depth 1: the top of book from the quote)."""
        if not isinstance(depth, int) or depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be an int >= 1, got {depth!r}")
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        if depth == 1:
            self._run_sync(self._subscribe_quotes_on_loop, symbol, contract, "l1")
        else:
            self._run_sync(self._subscribe_depth_on_loop, symbol, contract, depth)
        self.record_subscription(DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)
        return True

    def _subscribe_depth_on_loop(self, symbol: str, contract: Any, depth: int) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        self._request_depth(ib, route, depth, force=False)

    def _request_depth(self, ib: Any, route: _Route, depth: int, force: bool) -> None:
        if route.depth == depth and not force and not route.depth_stale:
            return
        if route.depth:
            ib.cancelMktDepth(route.contract, route.smart_depth)
        route.smart_depth = route.contract.exchange == "SMART"
        route.ticker = ib.reqMktDepth(route.contract, depth, route.smart_depth)
        route.depth = depth
        route.depth_stale = False
        route.last_dom = time.monotonic()
        self._routes[id(route.ticker)] = route

    def subscribe_bars(self, symbol: str, bar_size: int = 5) -> bool:
        """Live 5-second bars (reqRealTimeBars) as OHLCVBar updates."""
        self._require_connected()
        contract = self.qualify(symbol)
        self._pace()
        self._run_sync(self._subscribe_bars_on_loop, symbol, contract, bar_size)
        self.record_subscription(DataType.OHLCV_BAR, symbol, bar_size=bar_size)
        return True

    def _subscribe_bars_on_loop(self, symbol: str, contract: Any, bar_size: int) -> None:
        ib = self._live_ib()
        route = self._route(symbol, contract)
        if route.bars is not None and not route.bars_stale:
            return
        if route.bars is not None:
            self._bar_routes.pop(id(route.bars), None)
            ib.cancelRealTimeBars(route.bars)
        route.bars_stale = False
        what = "MIDPOINT" if contract.secType == "CASH" else "TRADES"
        route.bars = ib.reqRealTimeBars(contract, bar_size, what, False)
        self._bar_routes[id(route.bars)] = route

    def subscribe_news(self) -> bool:
        """IB news bulletins as NewsEvent updates."""
        self._require_connected()
        self._pace()
        self._run_sync(self._subscribe_news_on_loop)
        self.record_subscription(DataType.NEWS, "")
        return True

    def _subscribe_news_on_loop(self) -> None:
        ib = self._live_ib()
        if not self._news_on:
            ib.reqNewsBulletins(True)
            self._news_on = True

    def subscribe_macro(self) -> bool:
        """IB has no macro-event feed."""
        return False

    def resubscribe_one(self, data_type: DataType, symbol: str, params: dict[str, Any]) -> bool:
        if data_type is DataType.OHLCV_BAR:
            return self.subscribe_bars(symbol, int(params.get("bar_size", 5)))
        return super().resubscribe_one(data_type, symbol, params)

    def unsubscribe(self, symbol: str) -> None:
        """Cancel every market data request for ``symbol``."""
        if self.is_connected and self._ib is not None and symbol in self._by_symbol:
            with contextlib.suppress(PacingError):
                self._pace(2)
            with contextlib.suppress(ConnectorError):
                self._run_sync(self._unsubscribe_on_loop, symbol)
        self.forget_subscriptions(symbol)

    def _unsubscribe_on_loop(self, symbol: str) -> None:
        route = self._by_symbol.pop(symbol, None)
        if route is None:
            return
        if route.ticker is not None:
            self._routes.pop(id(route.ticker), None)
        ib = self._ib
        if ib is None:
            return
        if route.md_on:
            ib.cancelMktData(route.contract)
        if route.depth:
            ib.cancelMktDepth(route.contract, route.smart_depth)
        if route.bars is not None:
            self._bar_routes.pop(id(route.bars), None)
            ib.cancelRealTimeBars(route.bars)

    def get_historical_bars(
        self, symbol: str, *, duration: str = "1 D", bar_size: str = "1 min",
        what_to_show: str = "TRADES", end: str = "", use_rth: bool = False,
        timeout: float | None = None,
    ) -> list[OHLCVBar]:
        """Historical bars (reqHistoricalData) within IB's pacing rules.

        An identical request within ``historical_identical_interval`` seconds is answered
        from the previous result; past ``historical_max_requests`` per
        ``historical_window`` the call waits up to ``timeout`` then raises PacingError.
        """
        key = (symbol, duration, bar_size, what_to_show, end, use_rth)
        limit = self.settings.request_timeout if timeout is None else timeout
        cached = self._hist_cache.get(key)
        if cached is not None and self._hist_pacer.identical_recently(key):
            self.ib_counters["historical_cache_hits"] += 1
            return list(cached[1])
        self._require_connected()
        contract = self.qualify(symbol)
        deadline = time.monotonic() + limit
        while (wait := self._hist_pacer.check(key)) > 0:
            if time.monotonic() + wait > deadline:
                self.ib_counters["pacing_refusals"] += 1
                raise PacingError(f"{self.name}: IB historical-data pacing: retry in "
                                  f"{wait:.1f}s", wait)
            self.ib_counters["historical_pacing_waits"] += 1
            if self.wait_closing(wait):
                raise PacingError(f"{self.name}: closing", 0.0)
        self._pace()
        request = (symbol, contract, duration, bar_size, what_to_show, end, use_rth, limit)
        bars = self._run(self._historical_async, request, timeout=limit + 1.0)
        self._hist_cache[key] = (time.monotonic(), bars)
        return list(bars)

    async def _historical_async(self, request: tuple[Any, ...]) -> list[OHLCVBar]:
        symbol, contract, duration, bar_size, what, end, use_rth, limit = request
        ib = self._live_ib()
        raw = await self._ask(ib, ib.reqHistoricalDataAsync(
            contract, end, duration, bar_size, what, use_rth, 1, False, [], limit), limit + 0.5)
        interval = _bar_seconds(bar_size)
        out = []
        for bar in raw:
            self.stats.updates_received += 1
            update = self.on_bar(bar, symbol, interval)
            if update is not None:
                out.append(update.payload)
        return out

    # ================================================================== normalizers
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        """A PriceTick from an ib Ticker (routed) or a mapping with symbol/bid/ask/last/..."""
        ts = now_ns()
        if isinstance(data, dict):
            symbol = data.get("symbol")
            values = [data.get(k) for k in ("bid", "ask", "last", "bid_size", "ask_size",
                                            "last_size", "volume")]
        elif hasattr(data, "ticks") and hasattr(data, "contract"):
            route = self._routes.get(id(data))
            symbol = route.symbol if route is not None else getattr(data.contract, "symbol", None)
            values = [data.bid, data.ask, data.last, data.bidSize, data.askSize, data.lastSize,
                      data.volume]
        else:
            self.record_data_error("bad_quote", type(data).__name__)
            return None
        if not isinstance(symbol, str):
            self.record_data_error("bad_symbol", repr(symbol)[:80])
            return None
        bid, ask, last, bid_size, ask_size, last_size, volume = values
        tick, kind, sentinels = normalize_quote(symbol, bid, ask, last, bid_size, ask_size,
                                                last_size, volume, ts)
        if sentinels:
            self.ib_counters["sentinel_values"] += sentinels
        if tick is None:
            self.record_data_error(kind or "bad_quote", symbol)
            return None
        return self._next_update(DataType.PRICE_TICK, symbol, tick, ts)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        """An OrderBookSnapshot from a Ticker's DOM or a mapping symbol/bids/asks."""
        ts = now_ns()
        if isinstance(data, dict):
            symbol, bids, asks = data.get("symbol"), data.get("bids"), data.get("asks")
            depth = data.get("depth", 0)
        elif hasattr(data, "domBids") and hasattr(data, "contract"):
            route = self._routes.get(id(data))
            symbol = route.symbol if route is not None else getattr(data.contract, "symbol", None)
            bids, asks, depth = data.domBids, data.domAsks, route.depth if route else 0
        else:
            self.record_data_error("bad_book", type(data).__name__)
            return None
        if not isinstance(symbol, str) or bids is None or asks is None \
                or not isinstance(depth, int):
            self.record_data_error("bad_book", repr(data)[:80])
            return None
        book, kind = normalize_book(symbol, bids, asks, depth, ts)
        if book is None:
            self.record_data_error(kind or "bad_book", symbol)
            return None
        return self._next_update(DataType.ORDERBOOK_SNAPSHOT, symbol, book, ts)

    def on_news(self, data: Any) -> MarketUpdate | None:
        """A NewsEvent from an IB NewsBulletin or a mapping with a headline."""
        if isinstance(data, dict):
            headline, source = data.get("headline"), data.get("source", "")
        elif hasattr(data, "message") and hasattr(data, "msgId"):
            headline, source = data.message, data.origExchange or "IB"
        else:
            self.record_data_error("bad_news", type(data).__name__)
            return None
        if not isinstance(headline, str) or not headline.strip() or not isinstance(source, str):
            self.record_data_error("bad_news", repr(data)[:80])
            return None
        ts = now_ns()
        news = NewsEvent(headline=headline.strip(), source=source, ts_event=ts)
        return self._next_update(DataType.NEWS, "", news, ts)

    def on_macro(self, data: Any) -> MarketUpdate | None:
        """IB has no macro feed: any macro input is counted and rejected."""
        self.record_data_error("macro_unsupported", type(data).__name__)
        return None

    def on_bar(self, bar: Any, symbol: str = "", interval_s: int = 5) -> MarketUpdate | None:
        """An OHLCVBar from an IB RealTimeBar / BarData (or a mapping)."""
        try:
            if isinstance(bar, dict):
                symbol = bar.get("symbol", symbol)
                when: Any = bar.get("time")
                o, h, lo, c = bar["open"], bar["high"], bar["low"], bar["close"]
                vol = bar.get("volume", 0.0)
            else:
                when = getattr(bar, "time", None) or getattr(bar, "date", None)
                o = bar.open_ if hasattr(bar, "open_") else bar.open
                h, lo, c, vol = bar.high, bar.low, bar.close, bar.volume
            values = [float(v) for v in (o, h, lo, c)]
            volume = float(vol)
            volume = volume if math.isfinite(volume) and volume > 0 else 0.0
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.record_data_error("bad_bar", repr(exc)[:80])
            return None
        if not isinstance(symbol, str) or not symbol or not all(
                math.isfinite(v) and v > 0 for v in values) or values[1] < values[2]:
            self.record_data_error("bad_bar", f"{symbol}: {values}")
            return None
        ts = _to_ns(when)
        payload = OHLCVBar(symbol, *values, volume=volume, interval_s=int(interval_s),
                           ts_event=ts)
        return MarketUpdate(DataType.OHLCV_BAR, symbol, self.name, payload, self._bump(), ts,
                            now_ns())

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    # ================================================================== orders
    def _ib_order(self, order: Order) -> Any:
        mod = self._backend()
        action = order.side.value
        kind = order.order_type
        if kind is OrderType.MARKET:
            ib_order = mod.MarketOrder(action, order.quantity)
        elif kind is OrderType.LIMIT:
            ib_order = mod.LimitOrder(action, order.quantity, order.price)
        elif kind is OrderType.STOP:
            ib_order = mod.StopOrder(action, order.quantity, order.stop_price)
        else:
            ib_order = mod.StopLimitOrder(action, order.quantity, order.price, order.stop_price)
        ib_order.orderType = _IB_ORDER_TYPES[kind]
        ib_order.tif = order.time_in_force.value
        ib_order.orderRef = order.client_order_id
        ib_order.account = order.account or self.settings.account_id
        ib_order.transmit = True
        return ib_order

    def submit_order(self, order: Order) -> None:
        """Place ``order`` (MKT / LMT / STP / STP LMT with its time in force).

        The client order id travels as IB's orderRef; IB's orderId and permId are kept in
        ``ibkr_order_map``.
        """
        cid = order.client_order_id
        try:
            contract = self.qualify(order.symbol)
            ib_order = self._ib_order(order)
            self._pace()
        except NotConnectedError:
            raise
        except (ConnectorError, ValueError) as exc:  # nothing reached TWS: definite
            raise OrderNotSentError(str(exc), order) from exc
        # A ConnectorError from here on: the loop may or may not have sent it (the core
        # flags it unknown outcome; reconciliation tells). NotConnectedError: it did not.
        self._run_sync(self._place_on_loop, cid, contract, ib_order)

    def _place_on_loop(self, cid: str, contract: Any, ib_order: Any) -> int:
        ib = self._live_ib()
        order_id = self.ibkr_order_map.next_order_id(ib.client.getReqId())
        ib.client.updateReqId(order_id + 1)
        ib_order.orderId = order_id
        self.ibkr_order_map.bind_order_id(cid, order_id)
        self.bind_venue_order_id(cid, str(order_id))
        self._trades[cid] = ib.placeOrder(contract, ib_order)
        return order_id

    def submit_cancel(self, order: Order) -> bool:
        """Request cancellation of ``order`` (placed in this session or found in TWS)."""
        self._require_connected()
        self._pace()
        return self._run_sync(self._cancel_on_loop, order.client_order_id)

    def _cancel_on_loop(self, cid: str) -> bool:
        ib = self._live_ib()
        trade = self._trades.get(cid)
        if trade is None or not any(t is trade for t in ib.trades()):
            trade = next((t for t in ib.trades() if t.order.orderRef == cid), None)
        if trade is None:
            return False
        self._trades[cid] = trade
        ib.cancelOrder(trade.order)
        return True

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """Open orders, executions since the oldest of ``orders`` and completed orders,
        applied through the state machine (fills de-duplicated by execId)."""
        if not self.is_connected or self._ib is None:
            return set()
        # One reconciliation at a time: ib_insync keys the open- and completed-orders
        # replies by name, so a second request in flight would orphan the first one's
        # future (the reconnect thread and the unseen-order recheck can overlap).
        if not self._reconcile_lock.acquire(timeout=timeout):
            self.ib_counters["reconcile_busy"] += 1
            return set()
        try:
            if not self.is_connected or self._ib is None:
                return set()
            since = min(o.created_ns for o in orders) / 1e9 - 60.0
            self._pace(3)
            cids = [o.client_order_id for o in orders]
            return self._run(self._reconcile_async, cids, since, timeout,
                             timeout=3 * timeout + 2)
        finally:
            self._reconcile_lock.release()

    async def _reconcile_async(self, cids: list[str], since: float, timeout: float) -> set[str]:
        ib = self._live_ib()
        mod = self._backend()
        wanted = set(cids)
        answered: set[str] = set()
        stamp = datetime.fromtimestamp(since, timezone.utc).strftime("%Y%m%d-%H:%M:%S")
        open_trades = await self._ask(ib, ib.reqOpenOrdersAsync(), timeout)
        fills = await self._ask(ib, ib.reqExecutionsAsync(
            mod.ExecutionFilter(clientId=self.settings.client_id, time=stamp)), timeout)
        completed = await self._ask(ib, ib.reqCompletedOrdersAsync(True), timeout)
        for fill in fills:
            if fill.execution.orderRef in wanted:
                self._apply_execution(fill, live=False)
        for trade in open_trades:
            cid = trade.order.orderRef
            if cid in wanted:
                answered.add(cid)
                self._trades[cid] = trade
                self._bind(cid, trade.order)
                self._apply_trade_status(cid, trade)
        for trade in completed:
            cid = trade.order.orderRef
            if cid in wanted and cid not in answered:
                answered.add(cid)
                self._bind(cid, trade.order)
                self._apply_trade_status(cid, trade)
        recheck: list[str] = []
        for cid in wanted - answered:
            order = self.orders.get(cid)
            if order is None:
                continue
            if order.fills and order.is_terminal:
                answered.add(cid)
                continue
            if not order.fills:
                first_unseen = self._unseen_since.setdefault(cid, time.monotonic())
                if time.monotonic() - first_unseen < self.unknown_order_grace:
                    recheck.append(cid)
                    continue
                # Still unknown to TWS after the grace (no open, completed or executed
                # order): it never arrived, so it is not working anywhere.
                answered.add(cid)
                self.apply_order_status(cid, OrderStatus.REJECTED,
                                        reason="IB has no record of this order (never received)")
        for cid in answered:
            self._unseen_since.pop(cid, None)
        if recheck:
            self.ib_counters["reconcile_rechecks"] += 1
            self._spawn(self._recheck_unseen, "reconcile-recheck")
        self.ib_counters["reconciliations"] += 1
        return answered

    def _recheck_unseen(self) -> None:
        """Reconcile again once the grace has passed (a thread of its own, off the loop)."""
        if self.wait_closing(self.unknown_order_grace) or not self.is_connected:
            return  # closed, or down again: the next reconnect reconciles anyway
        self.reconcile_orders()

    # ================================================================== account
    def get_positions(self) -> list[dict[str, Any]]:
        """Current positions from TWS (reqPositions)."""
        self._require_connected()
        self._pace()

        async def fetch() -> list[dict[str, Any]]:
            ib = self._live_ib()
            rows = await self._ask(ib, ib.reqPositionsAsync(), self.settings.request_timeout)
            return [{"account": r.account, "symbol": self._symbol_of(r.contract),
                     "sec_type": r.contract.secType, "con_id": r.contract.conId,
                     "position": float(r.position), "avg_cost": float(r.avgCost)} for r in rows]

        return self._run(fetch)

    def get_account_values(self) -> dict[str, str]:
        """Account values (NetLiquidation, TotalCashValue, ...) kept by the IB session."""
        self._require_connected()

        def read() -> dict[str, str]:
            ib = self._live_ib()
            return {f"{v.tag}{':' + v.currency if v.currency else ''}": v.value
                    for v in ib.accountValues()}

        return self._run_sync(read)

    def _symbol_of(self, contract: Any) -> str:
        for symbol, known in list(self._contracts.items()):
            if known.conId == contract.conId:
                return symbol
        return contract.localSymbol or contract.symbol

    # ================================================================== stats
    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        stats["ibkr"] = {
            "backend": self.settings.backend,
            "server_version": self.server_version,
            "session": self._session,
            "order_id_high_water_mark": self.ibkr_order_map.high_water_mark,
            "orders_mapped": len(self.ibkr_order_map),
            "messages_paced": self._pacer.sent,
            "pacing_waits": self._pacer.waited,
            "link_down": self._link_down,
            "farm_down": self._farm_down,
            **dict(self.ib_counters),
        }
        return stats


def _import_backend(name: str) -> Any:
    """Import ib_insync / ib_async from any thread.

    eventkit (under both) asks for the importing thread's event loop at import time and keeps
    it as its "main" loop. A thread other than the main one has none (the manager connects
    connectors from worker threads), so give it a fresh loop for the import; eventkit keeps
    that loop, open and idle, as it would keep the main thread's."""
    if name in sys.modules:
        return sys.modules[name]
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            return importlib.import_module(name)
        finally:
            asyncio.set_event_loop(None)
    return importlib.import_module(name)


def _bar_seconds(bar_size: str) -> int:
    try:
        count, unit = bar_size.split()
        n = int(count)
    except ValueError:
        return 60
    unit = unit.lower()
    for prefix, seconds in _BAR_SECONDS.items():
        if unit.startswith(prefix):
            return n * seconds
    return 60


def _to_ns(when: Any) -> int:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return int(when.timestamp() * 1e9)
    if isinstance(when, date):
        return int(datetime(when.year, when.month, when.day, tzinfo=timezone.utc).timestamp()
                   * 1e9)
    if isinstance(when, (int, float)) and math.isfinite(when) and when > 0:
        return int(when * 1e9) if when < 1e12 else int(when)
    return now_ns()
