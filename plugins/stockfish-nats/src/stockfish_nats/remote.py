"""The ``nats`` connector: a gateway's venue sessions, reached over NATS, as one connector.

In a strategy's configuration a gateway is ``type: nats`` with ``servers``, ``gateway`` and
``connectors``; the manager, its failover, the router and the asyncio API work unchanged.
The core owns the order path; this connector implements its protocol:

- ``submit_order``: a request to the session holder with the client order id as the
  JetStream message id. The holder's journal and the events stream decide: a retried
  submission (a timeout, a takeover) is answered, never sent twice. No holder at all
  during the whole ``order_timeout`` means not sent; no answer means unknown outcome.
- ``submit_cancel`` / ``submit_replace`` / ``request_order_states``: requests too.
- Order events come from the events stream, filtered to this strategy's ``client_id``,
  from the last position this process applied (kept with ``save_state`` in its own
  journal): after a restart it replays what it missed and knows every order it sent.
- Market data: one core-NATS subscription per stream; the gateway counts subscribers.
- A ping per ``heartbeat_interval`` to each session holder; no holder, a new holder
  (takeover), or a session that is not connected is a lost link for the core's reconnect
  (which resubscribes and reconciles).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from stockfish_core.capabilities import Capabilities
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.enums import DataType, OrderType
from stockfish_core.errors import (
    NotConnectedError,
    OrderNotSentError,
    OrderRejectedError,
    SubscriptionError,
)
from stockfish_core.models import MarketUpdate, now_ns
from stockfish_core.orders import Order, OrderStatus

from stockfish_nats import codec
from stockfish_nats.bus import Bus, BusError
from stockfish_nats.settings import NatsSettings
from stockfish_nats.subjects import Subjects

__all__ = ["CAPABILITIES", "NatsConnector"]

log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(data_types=frozenset(DataType), order_types=frozenset(OrderType),
                            supports_replace=True)
_KIND_TYPES = {"price": DataType.PRICE_TICK, "book": DataType.ORDERBOOK_SNAPSHOT,
               "news": DataType.NEWS, "macro": DataType.MACRO, "bars": DataType.OHLCV_BAR,
               "trades": DataType.TRADE}
_TARGET_REF = "gateway_connector"
_POSITION = "events_seq"
_SAVE_EVERY_S = 1.0


class NatsConnector(BaseConnector):
    """See the module docstring."""

    connector_type = "nats"
    capabilities = CAPABILITIES
    settings_class = NatsSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: NatsSettings = self.settings
        self.subjects = Subjects(s.gateway)
        self.bus: Bus | None = None
        self.targets: list[str] = list(s.connectors)
        self.epochs: dict[str, int] = {}
        self.remote_status: dict[str, str] = {}
        self.no_responders = 0
        self.retries = 0
        self.events_applied = 0
        self._md: dict[tuple[str, str, str], Any] = {}
        self._static: list[Any] = []
        self._events_sub: Any = None
        self._position = 0
        self._saved_position = 0
        self._saved_at = 0.0
        self._replayed = 0
        self._replay_cond = threading.Condition()
        self._replaying = False
        self._found: list[Order] = []
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="nats-events")
        self._pinger: threading.Thread | None = None
        self._owner: str | None = None
        self._seen_status: dict[str, tuple[int, int]] = {}
        self._data_only: dict[str, bool] = {}
        self._status_lock = threading.Lock()

    @property
    def owner(self) -> str:
        """This strategy's ``client_id`` on the bus."""
        if self._owner is None:
            self._owner = self.settings.owner(self.name)
        return self._owner

    # ================================================================ session
    def connect(self) -> bool:
        if self.is_connected and self.bus is not None and self.bus.connected:
            return True
        self.set_status(ConnectorStatus.CONNECTING)
        try:
            if self.bus is None:
                self.bus = Bus(self.settings.bus(), f"{self.owner}-{self.name}",
                               on_disconnect=self._bus_lost)
            self.bus.connect()
            if not self.targets:
                self.targets = self._discover()
            if not self._static:
                for target in self.targets:
                    self._static.append(self.bus.subscribe(self.subjects.status(target),
                                                           self._on_status_message))
            live = [t for t in self.targets if self._ping(t)]
            if not live:
                states = ", ".join(f"{t}: {self.remote_status.get(t, 'no holder')}"
                                   for t in self.targets)
                return self.connect_failed(f"gateway {self.subjects.gateway}: no session "
                                           f"connected ({states})")
            if all(self._data_only.get(t) for t in self.targets):
                self.data_only = True  # the gateway's sessions take no orders
            self._follow_events()
        except (BusError, nats.errors.Error, OSError) as exc:
            return self.connect_failed(f"gateway {self.subjects.gateway}: {exc}")
        self.set_status(ConnectorStatus.CONNECTED)
        self._start_pinger()
        return True

    def _discover(self) -> list[str]:
        assert self.bus is not None
        reply = self.bus.request(self.subjects.gateway_request("health"), b"",
                                 self.settings.request_timeout)
        return sorted(codec.decode(reply.data)["sessions"])

    def disconnect(self) -> None:
        bus = self.bus
        if bus is not None and bus.connected:
            for target in self.targets:
                try:
                    bus.request(self.subjects.command(target, "unsubscribe"),
                                codec.encode({"client": self.owner, "all": True}), 0.5)
                except Exception as exc:  # the gateway forgets us after its client timeout
                    log.debug("%s: unsubscribe at the gateway: %s", self.name, exc)
        self._save_position(force=True)
        self.bus, self._md, self._static, self._events_sub = None, {}, [], None
        if bus is not None:
            bus.close(2.0)
        self._worker.submit(lambda: None).result(5.0)
        self.set_status(ConnectorStatus.DISCONNECTED)

    def is_connected_check(self) -> bool:
        return self.bus is not None and self.bus.connected and \
            any(self._ping(t) for t in self.targets)

    def _bus_lost(self) -> None:
        if self.is_connected and not self.closing:
            self._worker.submit(self._report_loss, "the NATS connection dropped")

    def _report_loss(self, reason: str) -> None:
        """A lost link for the core's reconnect, unless it is already being handled. A
        venue session that dropped is reported even when it is back by the time this
        runs: the strategy missed what the venue sent meanwhile, and the reconnect
        resubscribes (a stale status never gets here: ``_fresh`` orders them)."""
        if not self.is_connected or self.reconnecting or self.closing:
            return
        self.handle_connection_error(reason)

    # -- pings ------------------------------------------------------------------------------
    def _ping(self, target: str) -> bool:
        """Ask ``target``'s holder how the session is; True when it is connected. A new
        holder since the last ping is a takeover."""
        bus = self.bus
        if bus is None:
            return False
        try:
            reply = bus.request(self.subjects.command(target, "ping"),
                                codec.encode({"client": self.owner}),
                                self.settings.request_timeout)
            answer = codec.decode(reply.data)
        except nats.errors.NoRespondersError:
            self.remote_status[target] = "no holder"
            return False
        except (BusError, codec.DecodeError, nats.errors.Error) as exc:
            self.remote_status[target] = f"no answer ({type(exc).__name__})"
            return False
        self.record_heartbeat()
        self._data_only[target] = bool(answer.get("data_only"))
        status = str(answer.get("status"))
        epoch = int(answer.get("epoch") or 0)
        known = self.epochs.get(target)
        if not self._fresh(target, epoch, answer.get("changes")):
            return self.remote_status.get(target) == ConnectorStatus.CONNECTED.value
        self.remote_status[target] = status
        self.epochs[target] = epoch
        if known and epoch != known and self.is_connected:
            self._worker.submit(self._report_loss,
                                f"{target}: session taken over (epoch {known} -> {epoch})")
        return status == ConnectorStatus.CONNECTED.value and bool(answer.get("ok"))

    def _fresh(self, target: str, epoch: int, changes: Any) -> bool:
        """Whether a status (a ping's answer or a status message) is newer than what we
        know of ``target``: within an epoch the session's count of status changes orders
        them, so one that was on its way while a newer one arrived is ignored."""
        key = (epoch, int(changes or 0))
        with self._status_lock:
            known = self._seen_status.get(target)
            if known is not None and key < known:
                return False
            self._seen_status[target] = key
        return True

    def _start_pinger(self) -> None:
        if self._pinger is not None and self._pinger.is_alive():
            return
        self._pinger = threading.Thread(target=self._ping_loop, daemon=True,
                                        name=f"{self.name}-ping")
        self._pinger.start()

    def _ping_loop(self) -> None:
        interval = self.heartbeat_period()
        while not self.wait_closing(interval):
            if not self.is_connected or self.reconnecting:
                continue
            if not any(self._ping(t) for t in self.targets) and self.is_connected:
                states = ", ".join(f"{t}: {self.remote_status.get(t)}" for t in self.targets)
                self.handle_connection_error(f"gateway {self.subjects.gateway}: {states}")
                continue
            self._save_position()
            # Orders still of unknown outcome (the gateway was itself reconciling when we
            # asked): ask again, once per heartbeat, until the gateway knows.
            unknown = [o for o in self.tracked_orders() if o.unknown_outcome]
            if unknown and not self.recovering:
                try:
                    self.reconcile_orders(self.settings.request_timeout, orders=unknown)
                except Exception as exc:
                    log.info("%s: reconciliation of %d order(s): %s", self.name,
                             len(unknown), exc)

    def _on_status_message(self, msg: Msg) -> None:
        try:
            message = codec.decode(msg.data)
            target, status = str(message["connector"]), str(message["status"])
            epoch = int(message.get("epoch") or 0)
        except (codec.DecodeError, KeyError, TypeError, ValueError):
            self.record_data_error("bad_status", msg.subject)
            return
        if not epoch or not self._fresh(target, epoch, message.get("changes")):
            return  # from a holder that gave the session up, or overtaken meanwhile
        self.remote_status[target] = status
        if status != ConnectorStatus.CONNECTED.value and self.is_connected and \
                not any(self.remote_status.get(t) == "CONNECTED" for t in self.targets):
            self._worker.submit(self._report_loss,
                                f"{target} at gateway {self.subjects.gateway} is {status}: "
                                f"{message.get('reason') or ''}")

    # ================================================================ order events
    def _follow_events(self) -> None:
        """Replay this strategy's order events from the last applied position, then
        follow them; orders of an earlier run that this process does not hold are
        restored (reconciled before new orders are taken)."""
        bus = self.bus
        if bus is None or self._events_sub is not None:
            return
        saved = self.load_state(_POSITION)
        self._position = self._saved_position = int(saved) if saved else 0
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=self._position + 1) if self._position else \
            ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        with self._replay_cond:
            self._replayed = 0
            self._replaying = True
            self._found = []

        async def follow() -> tuple[Any, int]:
            sub = await bus.js.subscribe(self.subjects.events_of(self.owner),
                                         stream=self.subjects.events_stream,
                                         ordered_consumer=True, config=config,
                                         cb=self._on_event)
            info = await sub.consumer_info()
            return sub, int(info.num_pending) + int(info.delivered.consumer_seq)

        self._events_sub, backlog = bus.run(follow(), self.settings.request_timeout * 2)
        with self._replay_cond:
            caught_up = self._replay_cond.wait_for(lambda: self._replayed >= backlog,
                                                   self.settings.order_timeout)
            self._replaying = False
            found, self._found = self._found, []
        self._worker.submit(lambda: None).result(self.settings.order_timeout)
        if not caught_up:
            log.warning("%s: replay of order events incomplete (%d of %d)", self.name,
                        self._replayed, backlog)
        if found:
            self.restore_orders(found)

    async def _on_event(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        self._worker.submit(self._apply_event, msg.data, seq)

    def _apply_event(self, data: bytes, seq: int) -> None:
        try:
            try:
                message = codec.decode(data)
                cid = str(message["client_order_id"])
                state = message.get("order")
            except (codec.DecodeError, KeyError, TypeError) as exc:
                self.record_data_error("bad_event", str(exc))
                return
            order = self.orders.get(cid)
            if state is None:
                return  # a tombstone: that id was never sent
            if order is not None:
                self._apply_state(order, state)
            elif self._replaying:
                try:
                    self._found.append(codec.order_from_snapshot(state))
                except codec.DecodeError as exc:
                    self.record_data_error("bad_event", str(exc))
            elif message.get("kind") != "intent":
                try:
                    found = codec.order_from_snapshot(state)
                except codec.DecodeError as exc:
                    self.record_data_error("bad_event", str(exc))
                    return
                self.adopt_external_order(found, f"an order of client {self.owner} this "
                                                 f"process did not send (another process "
                                                 f"with the same client_id?)")
            self.events_applied += 1
        finally:
            self._position = max(self._position, seq)
            with self._replay_cond:
                self._replayed += 1
                self._replay_cond.notify_all()

    def _save_position(self, force: bool = False) -> None:
        position = self._position
        now = time.monotonic()
        if position != self._saved_position and (force or now - self._saved_at >=
                                                 _SAVE_EVERY_S):
            self.save_state(_POSITION, str(position))
            self._saved_position, self._saved_at = position, now

    def _apply_state(self, order: Order, state: dict[str, Any]) -> None:
        """Bring ``order`` to the gateway's ``state`` of it (fills once each, then the
        status the fills do not imply)."""
        cid = order.client_order_id
        venue_id = state.get("order_id")
        for raw in state.get("fills") or ():
            fill = codec.fill_from_dict(raw)
            if not order.has_fill(fill.exec_id):
                self.apply_execution(cid, fill)
        status = OrderStatus(state["status"])
        if status in (OrderStatus.SUBMITTED, OrderStatus.CANCELLED, OrderStatus.REJECTED,
                      OrderStatus.ERROR):
            self.apply_order_status(cid, status, venue_order_id=venue_id,
                                    reason=state.get("reject_reason"),
                                    cum_qty=state.get("filled_quantity"))
        elif venue_id:
            self.bind_venue_order_id(cid, venue_id)

    # ================================================================ orders
    def _order_target(self) -> str:
        for target in self.targets:
            if self.remote_status.get(target) == ConnectorStatus.CONNECTED.value:
                return target
        if self.targets:
            return self.targets[0]
        raise NotConnectedError(f"{self.name}: gateway {self.subjects.gateway} has no "
                                f"session")

    def submit_order(self, order: Order) -> None:
        bus = self.bus
        if bus is None or not bus.connected:
            raise NotConnectedError(f"{self.name}: the NATS connection is down")
        target = self._order_target()
        self.remember_venue_ref(order, _TARGET_REF, target)
        s: NatsSettings = self.settings
        deadline = time.monotonic() + s.order_timeout
        data = codec.encode(codec.order_command(order, self.owner,
                                                now_ns() + int(s.order_timeout * 1e9)))
        subject = self.subjects.command(target, "submit")
        maybe_sent = False
        while True:
            try:
                reply = bus.request(subject, data, min(s.request_timeout,
                                                       max(deadline - time.monotonic(), 0.05)),
                                    headers={"Nats-Msg-Id": order.client_order_id})
                answer = codec.decode(reply.data)
            except nats.errors.NoRespondersError:
                self.no_responders += 1
            except (BusError, nats.errors.Error, codec.DecodeError) as exc:
                maybe_sent = True
                self.retries += 1
                log.info("%s: submit of %s: %s; retrying with the same id", self.name,
                         order.client_order_id, exc)
            else:
                if answer.get("ok"):
                    state = answer.get("order")
                    if state is not None:
                        self._apply_state(order, state)
                    return
                reason = str(answer.get("reason") or "refused by the gateway")
                if answer.get("not_sent"):
                    raise OrderNotSentError(reason, order)
                raise RuntimeError(f"gateway {self.subjects.gateway}: {reason}")
            if time.monotonic() >= deadline:
                break
            if self.wait_closing(min(0.05 * (1 + self.no_responders % 4), 0.2)):
                break
        if order.is_terminal and not order.unknown_outcome:
            return  # settled meanwhile (a reconciliation asked the gateway)
        if not maybe_sent:
            raise OrderNotSentError(f"no gateway instance held {target}'s session for "
                                    f"{s.order_timeout:g} s", order)
        raise TimeoutError(f"gateway {self.subjects.gateway}: no answer to the submission "
                           f"within {s.order_timeout:g} s")

    def _request(self, order: Order, op: str, body: dict[str, Any]) -> dict[str, Any]:
        bus = self.bus
        if bus is None or not bus.connected:
            raise NotConnectedError(f"{self.name}: the NATS connection is down")
        target = order.venue_refs.get(_TARGET_REF) or self._order_target()
        try:
            reply = bus.request(self.subjects.command(target, op), codec.encode(body),
                                self.settings.request_timeout)
            return codec.decode(reply.data)
        except nats.errors.NoRespondersError:
            raise NotConnectedError(f"{self.name}: no gateway instance holds {target}'s "
                                    f"session") from None
        except (BusError, codec.DecodeError) as exc:
            raise NotConnectedError(f"{self.name}: {op} of {order.client_order_id}: "
                                    f"{exc}") from exc

    def submit_cancel(self, order: Order) -> bool:
        answer = self._request(order, "cancel", {"client_order_id": order.client_order_id})
        if not answer.get("ok"):
            raise OrderRejectedError(str(answer.get("reason")), order)
        return bool(answer.get("sent"))

    def submit_replace(self, order: Order, quantity: float | None,
                       price: float | None) -> bool:
        answer = self._request(order, "replace", {"client_order_id": order.client_order_id,
                                                  "quantity": quantity, "price": price})
        if not answer.get("ok"):
            raise OrderRejectedError(str(answer.get("reason")), order)
        return bool(answer.get("sent"))

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        bus = self.bus
        if bus is None or not bus.connected:
            return set()
        by_target: dict[str, list[Order]] = {}
        for order in orders:
            target = order.venue_refs.get(_TARGET_REF) or (self.targets[0] if self.targets
                                                           else "")
            by_target.setdefault(target, []).append(order)
        answered: set[str] = set()
        for target, group in by_target.items():
            try:
                reply = bus.request(self.subjects.command(target, "status"), codec.encode(
                    {"owner": self.owner, "ids": [o.client_order_id for o in group]}),
                    max(timeout, self.settings.request_timeout))
                answer = codec.decode(reply.data)
            except (BusError, nats.errors.Error, codec.DecodeError) as exc:
                log.warning("%s: order states from %s: %s", self.name, target, exc)
                continue
            states = answer.get("orders") or {}
            for order in group:
                cid = order.client_order_id
                found = states.get(cid)
                if not found:
                    continue
                if found.get("never_received"):
                    self.apply_order_status(cid, OrderStatus.REJECTED,
                                            reason="the gateway never received this order")
                    answered.add(cid)
                    continue
                self._apply_state(order, found["order"])
                if found.get("settled"):
                    answered.add(cid)
        return answered

    # ================================================================ market data
    def _subscribe(self, kind: str, symbol: str = "", **params: Any) -> bool:
        bus = self.bus
        if bus is None or not self.is_connected:
            raise NotConnectedError(f"{self.name}: not connected")
        data_type = _KIND_TYPES[kind]
        refusals = []
        done = 0
        for target in self.targets:
            try:
                reply = bus.request(self.subjects.command(target, "subscribe"), codec.encode(
                    {"client": self.owner, "kind": kind, "symbol": symbol, **params}),
                    self.settings.request_timeout)
                answer = codec.decode(reply.data)
            except (BusError, nats.errors.Error, codec.DecodeError) as exc:
                refusals.append(f"{target}: {exc}")
                continue
            if not answer.get("ok"):
                refusals.append(f"{target}: {answer.get('reason')}")
                continue
            key = (target, data_type.value, symbol)
            if key not in self._md:
                self._md[key] = bus.subscribe(
                    self.subjects.market(target, data_type.value, symbol), self._on_market)
            done += 1
        if not done:
            raise SubscriptionError(f"{self.name}: {kind} {symbol}: {'; '.join(refusals)}")
        self.record_subscription(data_type, symbol, **params)
        return True

    def _on_market(self, msg: Msg) -> None:
        """Bus loop thread: the hot path (decode, count, hand to the router)."""
        self.stats.updates_received += 1
        try:
            update = codec.decode_update(msg.data, self.name)
        except codec.DecodeError as exc:
            self.record_data_error("bad_message", str(exc))
            return
        self.push_update(update)

    def subscribe_price(self, symbol: str) -> bool:
        return self._subscribe("price", symbol)

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        if depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be >= 1, got {depth}")
        return self._subscribe("book", symbol, depth=depth)

    def subscribe_news(self) -> bool:
        return self._subscribe("news")

    def subscribe_macro(self) -> bool:
        return self._subscribe("macro")

    def subscribe_bars(self, symbol: str) -> bool:
        return self._subscribe("bars", symbol)

    def subscribe_trades(self, symbol: str) -> bool:
        return self._subscribe("trades", symbol)

    def resubscribe_one(self, data_type: DataType, symbol: str, params: dict[str, Any]) -> bool:
        if data_type is DataType.OHLCV_BAR:
            return self.subscribe_bars(symbol)
        if data_type is DataType.TRADE:
            return self.subscribe_trades(symbol)
        return super().resubscribe_one(data_type, symbol, params)

    def unsubscribe(self, symbol: str) -> None:
        bus = self.bus
        if bus is not None:
            for key in [k for k in self._md if k[2] == symbol]:
                bus.unsubscribe(self._md.pop(key))
            for target in self.targets:
                try:
                    bus.request(self.subjects.command(target, "unsubscribe"), codec.encode(
                        {"client": self.owner, "symbol": symbol}),
                        self.settings.request_timeout)
                except Exception as exc:  # dropped by the gateway's client timeout then
                    log.info("%s: unsubscribe %s at %s: %s", self.name, symbol, target, exc)
        self.forget_subscriptions(symbol)

    # -- normalizers: the gateway normalized already; these decode its messages ------------
    def _normalize(self, data: Any) -> MarketUpdate | None:
        try:
            return codec.decode_update(data, self.name)
        except (codec.DecodeError, TypeError) as exc:
            self.record_data_error("bad_message", str(exc))
            return None

    on_price_tick = _normalize
    on_orderbook = _normalize
    on_news = _normalize
    on_macro = _normalize

    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        stats.update(gateway=self.subjects.gateway, targets=list(self.targets),
                     remote_status=dict(self.remote_status), epochs=dict(self.epochs),
                     client_id=self.owner, no_responders=self.no_responders,
                     submit_retries=self.retries, events_applied=self.events_applied,
                     events_position=self._position,
                     bus=self.bus.stats() if self.bus is not None else None)
        return stats
