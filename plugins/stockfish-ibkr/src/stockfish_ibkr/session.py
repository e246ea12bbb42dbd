"""The API session: the IB event loop thread, connect / disconnect, the heartbeat, the end
of a session, and the plumbing every other role uses to run work on the loop.

Threading: the IB client runs on an asyncio event loop in the connector's own thread. Every
public method is synchronous and thread-safe: it paces itself, then hands the work to the
loop with ``asyncio.run_coroutine_threadsafe`` and waits a bounded time (:meth:`_run`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import logging
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import ConnectorError, NotConnectedError

from stockfish_ibkr.pacing import PacingError, WirePacer
from stockfish_ibkr.settings import IBKRSettings

if TYPE_CHECKING:
    from stockfish_ibkr.farms import FarmBoard
    from stockfish_ibkr.order_map import IBKROrderMap

__all__ = ["ClientIdInUseError", "SessionMixin", "import_backend"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class ClientIdInUseError(ConnectorError):
    """TWS refused the API session: the client id is already connected (IB error 326)."""


class _HandshakeClosedError(ConnectionError):
    """The socket closed before the API handshake and initial sync completed."""


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


class SessionMixin(BaseConnector):
    """The session role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    settings: IBKRSettings
    ib_counters: Counter[str]

    if TYPE_CHECKING:  # provided by the other roles
        farms: FarmBoard
        ibkr_order_map: IBKROrderMap

        def _attach(self, ib: Any) -> None: ...

        def _forget_streams(self) -> None: ...

        def _observe_ids_at_connect(self, ib: Any) -> None: ...

        async def _logon_orders(self, ib: Any) -> None: ...

        def _absorb_logon(self, ib: Any) -> None: ...

        def _on_next_valid_id(self, order_id: int) -> None: ...

        def _start_feed_watch(self, ib: Any) -> None: ...

        def _stop_feed_watch(self) -> None: ...

        def _settle_all_cancels(self) -> None: ...

    def _init_session(self) -> None:
        s = self.settings
        self._mod: Any = None
        self._loop_thread: _LoopThread | None = None
        self._connect_lock = threading.Lock()
        self._ib: Any = None  # the live IB instance; written on the loop thread only
        self._connecting: Any = None  # the IB instance in its handshake, if any
        self._reconnect_attempt = threading.local()  # .active on the reconnect thread
        self._session = 0
        self._hb_task: asyncio.Task[None] | None = None
        self._time_request: asyncio.Future[Any] | None = None
        self._drop_reason: str | None = None
        # IB session -> future resolved when its connection ends (loop thread only)
        self._ends: weakref.WeakKeyDictionary[Any, asyncio.Future[str]] = \
            weakref.WeakKeyDictionary()
        self._link_down = False  # TWS lost IB's servers (1100); the socket is still up
        self._link_restored = threading.Event()
        self._pacer = WirePacer(s.max_messages_per_second)
        self.server_version = 0

    # ================================================================== plumbing
    def _backend(self) -> Any:
        if self._mod is None:
            name = self.settings.backend
            try:
                self._mod = import_backend(name)
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

    def _pace(self) -> None:
        """Back-pressure before handing a request to the loop: wait (bounded by
        ``request_timeout``) while the pacer has a burst's worth of messages queued."""
        try:
            self._pacer.wait_for_room(self.settings.request_timeout, lambda: self.closing)
        except PacingError:
            self.ib_counters["pacing_refusals"] += 1
            raise

    # ================================================================== lifecycle
    def connect(self) -> bool:
        """Connect to TWS (API handshake, initial sync); True once CONNECTED.

        Returns False on a refused or timed-out connection (``get_stats()['last_error']``
        says why); raises :class:`ClientIdInUseError` when TWS reports error 326.
        """
        # An attempt of the reconnect loop reports a failure by raising: the loop counts it
        # once and stays RECONNECTING (ERROR is the end state, when attempts run out).
        in_reconnect = getattr(self._reconnect_attempt, "active", False)
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
                if not in_reconnect:
                    self.connect_failed(str(exc))
                raise
            except Exception as exc:
                reason = self._describe_connect_error(exc)
                if in_reconnect:
                    raise ConnectorError(reason) from exc
                self.connect_failed(reason)
                return False
            self.set_status(ConnectorStatus.CONNECTED)
            log.info("%s: connected to %s:%d (server version %d, %s)", self.name, s.host,
                     s.port, self.server_version, s.backend)
            return True

    def reconnect(self, deadline: float | None = None) -> bool:
        """The base reconnect loop, with this thread's connect attempts marked as such."""
        self._reconnect_attempt.active = True
        try:
            return super().reconnect(deadline)
        finally:
            self._reconnect_attempt.active = False

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
            self._stop_feed_watch()
            self._settle_all_cancels()
            self._end_session(old, "replaced by a new connection")
            with contextlib.suppress(Exception):
                old.disconnect()
        ib = mod.IB()
        ib.wrapper.nextValidId = self._on_next_valid_id  # an EWrapper callback both ignore
        loop = asyncio.get_running_loop()
        in_use: asyncio.Future[str] = loop.create_future()
        ended = self._track_session_end(ib)

        def on_error(req_id: int, code: int, message: str, contract: Any = None) -> None:
            if code == 326 and not in_use.done():
                in_use.set_result(message)

        ib.errorEvent += on_error
        self._pacer.install(ib.client, loop)
        self.farms.forget()  # TWS reports every farm again at logon
        self._connecting = ib
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
            await self._logon_orders(ib)
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
            self._connecting = None
        self._session += 1
        self._forget_streams()
        self._link_down = False
        self.server_version = ib.client.serverVersion()
        # A refused request raises its TWS error (code and text) instead of ending empty.
        ib.RaiseRequestErrors = True
        # Never hand out an order id used before, whatever nextValidId said.
        self._observe_ids_at_connect(ib)
        code = s.market_data_type_code
        if code != 1:
            ib.reqMarketDataType(code)
        self._ib = ib
        # What TWS reported while the library synchronized, now that the session is ours
        # (no await since it was set: nothing of TWS's is applied twice or missed).
        self._absorb_logon(ib)
        self._drop_reason = None
        self._time_request = None
        self._hb_task = asyncio.ensure_future(self._heartbeat(ib))
        self._start_feed_watch(ib)

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
        self._stop_feed_watch()
        self._forget_streams()
        self._pacer.discard()
        self._settle_all_cancels()
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
            answer, held = self._current_time(ib)
            await self._ask(ib, answer, limit + held)
            return True

        try:
            return self._run(probe, timeout=limit + 2.0)
        except Exception:
            return False

    # ================================================================== liveness
    def _current_time(self, ib: Any) -> tuple[asyncio.Future[Any], float]:
        """reqCurrentTime, ahead of anything the pacer has queued, and the seconds the
        pacer may hold it (to add to the wait for the answer). One in flight at a time:
        ib_insync keys the reply by name, so a second concurrent request would orphan the
        first (and fake a missed heartbeat)."""
        pending = self._time_request
        held = 0.0
        if pending is None or pending.done():
            with self._pacer.urgent() as held:
                pending = asyncio.ensure_future(ib.reqCurrentTimeAsync())
            self._time_request = pending
        return asyncio.shield(pending), held

    async def _heartbeat(self, ib: Any) -> None:
        interval = self.settings.heartbeat_interval
        while ib is self._ib:
            await asyncio.sleep(interval)
            if ib is not self._ib or not ib.isConnected():
                return
            self.ib_counters["heartbeats_sent"] += 1
            answer, held = self._current_time(ib)
            try:
                await self._ask(ib, answer, interval + held)
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
        self._stop_feed_watch()
        self._forget_streams()
        self._pacer.discard()
        self._settle_all_cancels()
        reason = self._drop_reason or "TWS closed the API connection"
        self._drop_reason = None
        self._link_down = False
        self.handle_connection_error(reason)


def import_backend(name: str) -> Any:
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
