"""A gateway: the configured connectors under an :class:`ExchangeManager` (journal on),
exposed on NATS.

- Market data of every session it holds: core NATS, one subject per connector / data type
  / symbol (:mod:`stockfish_nats.subjects`), encoded by :mod:`stockfish_nats.codec`.
- Order events (with the order's whole state) and connector statuses: the JetStream
  stream ``SF_EVENTS_<gateway>`` (durable, replayable, replicated on a cluster).
- Requests of remote connectors (orders, subscriptions, pings) on the sessions it holds;
  health and stats for anyone on ``sf.gw.<gateway>.health`` / ``.stats``.
- One lease per venue session (:mod:`stockfish_nats.lease`): several gateway processes of
  the same name and configuration share the sessions, each held by one at a time; a
  standby takes a session over when its holder dies or is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import MarketUpdate
from stockfish_core.orders import OrderEvent

from stockfish_nats import codec
from stockfish_nats.bus import Bus
from stockfish_nats.eventlog import EventLog
from stockfish_nats.lease import SessionLease
from stockfish_nats.replica import OrderReplica
from stockfish_nats.session import OWNER_TAG, VenueSession, status_message
from stockfish_nats.settings import GatewaySettings
from stockfish_nats.subjects import Subjects, check_name

__all__ = ["Gateway"]

log = logging.getLogger(__name__)


class Gateway:
    """See the module docstring. ``start()``, then ``stop()`` (or use it as a context
    manager)."""

    def __init__(self, manager: ExchangeManager, settings: GatewaySettings) -> None:
        if manager.journal is None:
            raise ValueError("a gateway needs the order journal (manager.journal): it is "
                             "what decides a retried submission after a restart")
        for name in manager.list_connectors():
            check_name("connector", name)
        self.manager = manager
        self.settings = settings
        self.instance = settings.instance_name()
        self.subjects = Subjects(settings.gateway)
        self.bus = Bus(settings.bus, f"gateway-{settings.gateway}-{self.instance}")
        self.events = EventLog(self.bus)
        self.replica = OrderReplica(self.subjects)
        self.sessions: dict[str, VenueSession] = {}
        self.stopping = False
        self.lease_ttl = settings.lease_ttl
        self.market_published = 0
        self._subjects_cache: dict[tuple[str, str, str], str] = {}
        self._subscriptions: list[Any] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._router_sub: Any = None
        self._admin = ThreadPoolExecutor(1, thread_name_prefix="gateway-admin")
        self._stopped = threading.Event()

    # ================================================================ lifecycle
    def start(self, timeout: float = 15.0) -> None:
        """Connect to the bus, make the stream and the lease bucket if they are missing,
        follow the stream, and start competing for the sessions. Sessions are logged on
        by whichever gateway instance takes their lease."""
        self.bus.connect()
        kv = self.bus.run(self._ensure_streams(), timeout)
        self.replica.start(self.bus, timeout)
        self.events.start()
        guard = self.settings.lease_guard
        for connector in self.manager.list_connectors_objects():
            lease = SessionLease(kv, self.subjects.lease_key(connector.name), self.instance,
                                 self.lease_ttl, guard)
            self.sessions[connector.name] = VenueSession(self, connector, lease)
            connector.add_status_listener(self._on_status)
        self.manager.add_order_listener(self._on_order_event)
        self._router_sub = self.manager.router.subscribe(self._on_update)
        for op, handler in (("health", self._health), ("stats", self._stats)):
            for subject in (self.subjects.gateway_request(op),
                            self.subjects.gateway_request(f"{self.instance}.{op}")):
                self._subscriptions.append(self.bus.subscribe(subject,
                                                              self._admin_handler(handler)))
        self.bus.run(self._start_loops(), 5.0)
        self.manager.monitor.start()

    async def _ensure_streams(self) -> Any:
        js = self.bus.js
        s = self.settings
        name = self.subjects.events_stream
        try:
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(StreamConfig(
                name=name, subjects=self.subjects.stream_subjects(),
                duplicate_window=s.duplicate_window, num_replicas=s.replicas,
                max_age=s.stream_max_age or None, storage=StorageType.FILE))
        bucket = f"sf_leases_{s.gateway}"
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(KeyValueConfig(
                bucket=bucket, ttl=s.lease_ttl, history=1, replicas=s.replicas,
                storage=StorageType.FILE))
        status = await kv.status()
        ttl = status.stream_info.config.max_age
        if ttl and abs(ttl - s.lease_ttl) > 1e-3:
            log.warning("lease bucket %s has a TTL of %.3f s (this gateway was configured "
                        "with %.3f s): the bucket's is the one that holds", bucket, ttl,
                        s.lease_ttl)
            self.lease_ttl = ttl
        return kv

    async def _start_loops(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._lease_loop()))
        self._tasks.append(loop.create_task(self._sweep_loop()))

    async def _lease_loop(self) -> None:
        period = self.lease_ttl / 4
        while not self.stopping:
            rounds = [s.tick(period) for s in self.sessions.values()]
            await asyncio.gather(*rounds, return_exceptions=True)
            await asyncio.sleep(period)

    async def _sweep_loop(self) -> None:
        timeout = self.settings.client_timeout
        while not self.stopping:
            await asyncio.sleep(timeout / 2)
            for session in self.sessions.values():
                session.sweep_clients(timeout)

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop taking requests, stop the connectors (the manager's ``on_stop`` policy,
        logout), publish what is pending, give the leases back and leave the bus.
        Returns the connectors that did not stop in time."""
        if self._stopped.is_set():
            return []
        self.stopping = True
        for task in self._tasks:
            self.bus.call_soon(task.cancel)
        for session in self.sessions.values():
            session.stop(timeout / 4)
        if self._router_sub is not None:
            self._router_sub.close()
        hung = self.manager.stop_all()
        self.events.flush(timeout / 4)
        for session in self.sessions.values():
            try:
                self.bus.run(session.lease.release(1.0), 2.0)
            except Exception as exc:
                log.info("%s: lease not released (%s): it expires by itself",
                         session.name, exc)
        for sub in self._subscriptions:
            self.bus.unsubscribe(sub)
        self._admin.shutdown(wait=False, cancel_futures=True)
        self.bus.close()
        self.manager.close()
        self._stopped.set()
        return hung

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stream_last_seq(self) -> int:
        async def info() -> int:
            si = await self.bus.js.stream_info(self.subjects.events_stream)
            return int(si.state.last_seq)

        try:
            return self.bus.run(info(), 5.0)
        except Exception as exc:
            log.warning("events stream info failed: %s", exc)
            return self.replica.last_seq

    # ================================================================ publishing
    def _on_update(self, update: MarketUpdate) -> None:
        """Router subscriber (the connector's thread): the hot path."""
        key = (update.source, update.data_type.value, update.symbol)
        subject = self._subjects_cache.get(key)
        if subject is None:
            subject = self._subjects_cache[key] = self.subjects.market(*key)
        self.bus.publish_soon(subject, codec.encode_update(update))
        self.market_published += 1

    def _on_order_event(self, event: OrderEvent) -> None:
        session = self.sessions.get(event.connector)
        if session is None:
            return
        order = session.connector.orders.get(event.client_order_id)
        if order is None:
            return
        owner = order.tags.get(OWNER_TAG) or "_"
        message = codec.event_message(event, order, epoch=session.lease.epoch,
                                      instance=self.instance)
        message["owner"] = owner
        self.events.append(self.subjects.event(event.connector, owner,
                                               event.client_order_id), codec.encode(message))

    def _on_status(self, connector: BaseConnector, old: ConnectorStatus,
                   new: ConnectorStatus, reason: str | None) -> None:
        self.publish_status(connector, reason, old)

    def publish_status(self, connector: BaseConnector, reason: str | None,
                       old: ConnectorStatus | None = None) -> None:
        session = self.sessions.get(connector.name)
        epoch = session.lease.epoch if session is not None else 0
        self.events.append(self.subjects.status(connector.name), codec.encode(
            status_message(connector, old, reason, epoch, self.instance)))

    # ================================================================ health and stats
    def _admin_handler(self, handler: Any) -> Any:
        def on_request(msg: Msg) -> None:
            def answer() -> None:
                try:
                    self.bus.respond(msg, codec.encode(handler()))
                except Exception as exc:
                    log.warning("gateway %s request failed: %s", msg.subject, exc)

            self._admin.submit(answer)

        return on_request

    def _health(self) -> dict[str, Any]:
        return {"gateway": self.subjects.gateway, "instance": self.instance,
                "sessions": {name: {"state": s.state, "status": s.connector.status.value,
                                    "epoch": s.lease.epoch, "held": s.lease.held}
                             for name, s in self.sessions.items()},
                "health": self.manager.get_health_status(), "bus": self.bus.stats()}

    def _stats(self) -> dict[str, Any]:
        return {"gateway": self.subjects.gateway, "instance": self.instance,
                "manager": self.manager.get_stats(), "bus": self.bus.stats(),
                "events": self.events.stats(), "replica": self.replica.stats(),
                "market_published": self.market_published,
                "sessions": {name: s.stats() for name, s in self.sessions.items()}}

    def get_stats(self) -> dict[str, Any]:
        return self._stats()
