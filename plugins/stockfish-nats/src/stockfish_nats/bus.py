"""One NATS connection on an asyncio loop of its own thread, with a synchronous face.

The connectors' public API is synchronous and thread-safe, and nats-py is asyncio: a
:class:`Bus` runs the client in a daemon thread and offers

- :meth:`run` (a coroutine from any thread, waited for with a bound) and :meth:`spawn`
  (fire and forget, failures logged);
- :meth:`publish_soon`, the hot path: a message is appended to a deque and the loop
  drains it in batches (no lock, no log, one wake-up per batch, not per message); past
  ``max_queued`` messages waiting (the bus is down) the oldest are dropped and counted;
- :meth:`subscribe` with a plain callback run on the loop thread;
- the JetStream context (``js``) once connected.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from stockfish_nats.settings import BusSettings, connect_options

__all__ = ["Bus", "BusError"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class BusError(ConnectionError):
    """The bus could not do what was asked (not connected, timed out, closed)."""


class Bus:
    """See the module docstring. ``on_disconnect`` / ``on_reconnect`` are called on the
    loop thread (keep them short)."""

    def __init__(self, settings: BusSettings, name: str, *, max_queued: int = 100_000,
                 on_disconnect: Callable[[], None] | None = None,
                 on_reconnect: Callable[[], None] | None = None,
                 reconnect_wait: float = 0.25) -> None:
        self.settings = settings
        self.name = name
        self.max_queued = max_queued
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        self.reconnect_wait = reconnect_wait
        self.nc: Client | None = None
        self.js: Any = None
        self.dropped = 0  # market data dropped while the bus could not take it
        self.published = 0
        self.errors = 0
        self.last_error: str | None = None
        self.loop = asyncio.new_event_loop()
        self._out: collections.deque[tuple[str, bytes]] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._scheduled = False
        self._closed = False
        self._thread = threading.Thread(target=self._run_loop, daemon=True,
                                        name=f"nats-{name}")
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def connect(self, timeout: float | None = None) -> None:
        """Connect (raises :class:`BusError` with the reason when it cannot)."""
        bound = timeout if timeout is not None else self.settings.connect_timeout * 2 + 1
        try:
            self.run(self._connect(), bound)
        except BusError as exc:
            why = f" ({self.last_error})" if self.last_error else ""
            raise BusError(f"cannot reach NATS at {', '.join(self.settings.servers)}: "
                           f"{exc}{why}{self._handshake_hint()}") from None
        except Exception as exc:
            raise BusError(f"cannot reach NATS at {', '.join(self.settings.servers)}: "
                           f"{type(exc).__name__}: {exc}") from exc

    def _handshake_hint(self) -> str:
        """A server that refuses credentials answers -ERR 'Authorization Violation' and
        closes; the close can overtake the answer (a reset), so say what it most likely
        means when credentials were given."""
        error = self.last_error or ""
        bus = self.settings
        has_credentials = bool(bus.user or bus.password is not None or bus.token is not None
                               or bus.nkey_seed is not None or bus.creds_file)
        if has_credentials and "uthorization" not in error and (
                "ConnectionReset" in error or "UnexpectedEOF" in error):
            return ("; the server closed the connection during the handshake: wrong "
                    "credentials, or this account may not connect")
        return ""

    async def _connect(self) -> None:
        if self.nc is not None and self.nc.is_connected:
            return

        async def disconnected() -> None:
            if self.on_disconnect is not None:
                self.on_disconnect()

        async def reconnected() -> None:
            if self.on_reconnect is not None:
                self.on_reconnect()

        async def error(exc: Exception) -> None:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

        if self.nc is None:
            self.nc = await nats.connect(
                **connect_options(self.settings, self.name), allow_reconnect=True,
                max_reconnect_attempts=-1, reconnect_time_wait=self.reconnect_wait,
                disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error,
                ping_interval=5, max_outstanding_pings=2)
            self.js = self.nc.jetstream()
            self._wake = asyncio.Event()
            self.loop.create_task(self._drain())

    @property
    def connected(self) -> bool:
        nc = self.nc
        return nc is not None and nc.is_connected

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued, close the connection and stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        nc = self.nc
        if nc is not None and not nc.is_closed:
            try:
                self.run(self._close(nc), timeout)
            except Exception as exc:  # closing a dead link: nothing more to do
                log.debug("%s: close: %s", self.name, exc)
        try:
            self.run(self._cancel_tasks(), timeout)
        except Exception as exc:
            log.debug("%s: stopping tasks: %s", self.name, exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()

    @staticmethod
    async def _cancel_tasks() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close(self, nc: Client) -> None:
        await self._flush_out(nc)
        try:
            await asyncio.wait_for(nc.drain(), 2.0)
        except Exception:
            await nc.close()

    # ------------------------------------------------------------------ running coroutines
    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; wait up to ``timeout`` seconds (then it is cancelled
        and :class:`BusError` raised). Never call it from the loop thread."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Bus.run called on the bus thread")
        if self._closed and self.loop.is_closed():
            coro.close()
            raise BusError("the bus is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BusError(f"no answer within {timeout:g} s") from None

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``coro`` on the loop without waiting; a failure is counted and logged."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)

        def done(f: concurrent.futures.Future[Any]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self.errors += 1
                self.last_error = f"{what}: {type(exc).__name__}: {exc}"
                log.warning("%s: %s failed: %s: %s", self.name, what, type(exc).__name__,
                            exc)

        future.add_done_callback(done)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ hot path
    def publish_soon(self, subject: str, data: bytes) -> None:
        """Queue a core-NATS message (any thread; no lock, no log)."""
        out = self._out
        out.append((subject, data))
        if len(out) > self.max_queued:
            out.popleft()
            self.dropped += 1
        if not self._scheduled:
            self._scheduled = True
            wake = self._wake
            if wake is not None:
                self.loop.call_soon_threadsafe(wake.set)

    async def _drain(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            await wake.wait()
            wake.clear()
            self._scheduled = False
            nc = self.nc
            if nc is None:
                continue
            await self._flush_out(nc)

    async def _flush_out(self, nc: Client) -> None:
        out = self._out
        publish = nc.publish
        sent = 0
        try:
            while out:
                subject, data = out.popleft()
                await publish(subject, data)
                sent += 1
        except Exception as exc:  # not connected and out of buffer: data is at-most-once
            self.dropped += 1 + len(out)
            out.clear()
            self.errors += 1
            self.last_error = f"publish: {type(exc).__name__}: {exc}"
        self.published += sent

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, subject: str, callback: Callable[[Msg], Any], *, queue: str = "",
                  timeout: float = 5.0) -> Any:
        """Subscribe; ``callback(msg)`` runs on the loop thread. Returns the subscription
        (pass it to :meth:`unsubscribe`)."""
        async def handler(msg: Msg) -> None:
            callback(msg)

        async def sub() -> Any:
            assert self.nc is not None
            return await self.nc.subscribe(subject, queue=queue, cb=handler,
                                           pending_msgs_limit=1_000_000,
                                           pending_bytes_limit=512 * 1024 * 1024)

        return self.run(sub(), timeout)

    def unsubscribe(self, subscription: Any, timeout: float = 5.0) -> None:
        try:
            self.run(subscription.unsubscribe(), timeout)
        except Exception as exc:  # gone with the connection already
            log.debug("%s: unsubscribe: %s", self.name, exc)

    def request(self, subject: str, data: bytes, timeout: float,
                headers: dict[str, str] | None = None) -> Msg:
        """A request; raises nats' ``NoRespondersError`` when nobody listens, and
        :class:`BusError` on a timeout."""
        async def req() -> Msg:
            assert self.nc is not None
            return await self.nc.request(subject, data, timeout=timeout, headers=headers)

        try:
            return self.run(req(), timeout + 1.0)
        except nats.errors.TimeoutError:
            raise BusError(f"no answer to {subject} within {timeout:g} s") from None

    def respond(self, msg: Msg, data: bytes) -> None:
        """Answer a request from any thread (fire and forget)."""
        if not msg.reply:
            return

        async def answer() -> None:
            assert self.nc is not None
            await self.nc.publish(msg.reply, data)

        if threading.current_thread() is self._thread:
            self.loop.create_task(answer())
        else:
            self.spawn(answer(), f"answer on {msg.subject}")

    def stats(self) -> dict[str, Any]:
        nc = self.nc
        return {"connected": self.connected, "published": self.published,
                "dropped": self.dropped, "queued": len(self._out), "errors": self.errors,
                "last_error": self.last_error,
                "server": nc.connected_url.netloc if nc is not None and nc.connected_url
                else None}
