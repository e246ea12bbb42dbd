"""One venue session of a gateway: its lease, and, while held, the connector logged on and
the requests of remote connectors answered.

States: ``standby`` (someone else holds the lease, or nobody: we try to take it),
``taking`` (lease taken: restoring the orders, logging on, reconciling), ``holding``,
``releasing`` (lease lost or given back: logging out). Order requests are handled one at
a time on the session's own worker thread (the venue sees them in arrival order);
subscriptions on another; pings on the bus loop.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import (
    ConnectorError,
    NotConnectedError,
    OrderRejectedError,
    UnknownOrderError,
)
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus

from stockfish_nats import codec
from stockfish_nats.lease import SessionLease
from stockfish_nats.subjects import check_name

if TYPE_CHECKING:
    from stockfish_nats.gateway import Gateway

__all__ = ["OWNER_TAG", "VenueSession"]

log = logging.getLogger(__name__)

#: The order tag holding the owner (the strategy's ``client_id``) of a remote order.
OWNER_TAG = "sf_owner"
_NO_OWNER = "_"
#: Seconds a decision is retried while the events stream has no leader.
_DECIDE_S = 6.0
#: Subscription kinds a remote connector may ask for, and the connector method of each.
KINDS = {"price": "subscribe_price", "book": "subscribe_orderbook", "news": "subscribe_news",
         "macro": "subscribe_macro", "bars": "subscribe_bars", "trades": "subscribe_trades"}


class VenueSession:
    """See the module docstring."""

    def __init__(self, gateway: Gateway, connector: BaseConnector, lease: SessionLease) -> None:
        self.gateway = gateway
        self.bus = gateway.bus
        self.subjects = gateway.subjects
        self.connector = connector
        self.name = connector.name
        self.lease = lease
        self.state = "standby"
        self.takeovers = 0
        self.releases = 0
        self.requests: dict[str, int] = {}
        self.refused = 0
        self.last_takeover_s: float | None = None
        self._orders = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-orders")
        self._data = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-data")
        self._session_lock = threading.Lock()  # logon and logout never overlap
        self._commands: Any = None
        self._fence_timer: Any = None
        self._refs: dict[tuple[str, str], dict[str, int]] = {}  # (kind, symbol) -> clients
        self._seen: dict[str, float] = {}
        self._retry_pause = threading.Event()  # never set: a bounded pause between retries

    # ================================================================ the lease (bus loop)
    async def tick(self, timeout: float) -> None:
        """One round: renew the lease we hold (or notice it is gone), or try to take it."""
        if self.state in ("taking", "holding"):
            await self.lease.renew(timeout)
            if self.lease.fence() is None:
                self._give_up("the lease was lost")
            else:
                self._arm_fence()
        elif self.state == "standby" and not self.gateway.stopping and \
                await self.lease.try_acquire(timeout):
            if self.gateway.stopping:  # taken while stopping: hand it back at once
                await self.lease.release(timeout)
                return
            self.state = "taking"
            self._arm_fence()
            started = time.monotonic()
            self._orders.submit(self._take, started)

    def _arm_fence(self) -> None:
        """Give the session up the moment the fence runs out, renewed or not."""
        if self._fence_timer is not None:
            self._fence_timer.cancel()
        self._fence_timer = self.bus.loop.call_later(max(self.lease.valid_for, 0.0),
                                                     self._check_fence)

    def _check_fence(self) -> None:
        if self.state in ("taking", "holding") and self.lease.fence() is None:
            self._give_up("the lease ran out without a confirmed renewal")

    def _give_up(self, reason: str) -> None:
        self.lease.drop(reason)
        self.state = "releasing"
        commands, self._commands = self._commands, None
        if commands is not None:
            self.bus.spawn(commands.unsubscribe(), "stop taking requests")
        threading.Thread(target=self._release, args=(reason,), daemon=True,
                         name=f"{self.name}-release").start()

    # ================================================================ logon / logout
    def _take(self, started: float) -> None:
        """Restore the session's orders (journal and events stream), log on, reconcile,
        then answer requests. Runs on the order worker."""
        try:
            with self._session_lock:
                if self.lease.fence() is None:
                    return
                self._restore_orders()
                if self.lease.fence() is None:
                    return
                connector = self.connector
                connector.reopen()
                ok = connector.connect()
                if self.lease.fence() is None:
                    return  # the release thread logs out once we leave the lock
                if ok:  # every open order: what happened while no session was held here
                    try:
                        connector.reconcile_orders()
                    except Exception as exc:  # the link went again: the reconnect does it
                        log.warning("%s: reconciliation at takeover failed: %s", self.name, exc)
                if not ok and getattr(connector.settings, "auto_reconnect", True):
                    connector.handle_connection_error(
                        connector.get_stats().get("last_error") or "logon failed")
            self._commands = self.bus.subscribe(self.subjects.commands(self.name),
                                                self._on_request)
            if self.lease.fence() is None:
                return
            self.state = "holding"
            self.takeovers += 1
            self.last_takeover_s = time.monotonic() - started
            log.warning("%s: session taken over by %s (epoch %d) in %.3f s", self.name,
                        self.gateway.instance, self.lease.epoch, self.last_takeover_s)
            self.gateway.publish_status(self.connector, f"held by {self.gateway.instance}")
        except Exception as exc:
            log.exception("%s: takeover failed", self.name)
            self.bus.call_soon(self._give_up, f"takeover failed: {exc}")

    def _restore_orders(self) -> None:
        """Every order of the session not known to be settled: from the local journal and
        from the events stream (the last holder's), the newer state of each."""
        replica = self.gateway.replica
        replica.wait_for(self.gateway.stream_last_seq(), 5.0)
        found: dict[str, Order] = {}
        journal = self.connector.journal
        if journal is not None:
            for order in journal.open_orders(self.name):
                found[order.client_order_id] = order
        for order in replica.open_orders(self.name):
            held = found.get(order.client_order_id)
            if held is None or order.updated_ns > held.updated_ns:
                found[order.client_order_id] = order
        fresh = [o for o in found.values() if o.client_order_id not in self.connector.orders]
        if fresh:
            self.connector.restore_orders(fresh)

    def _release(self, reason: str) -> None:
        with self._session_lock:
            try:
                self.connector.close(timeout=self.gateway.settings.lease_guard)
                # Reports of the open orders may come while no one holds the session:
                # they are of unknown outcome until the next holder reconciles them.
                self.connector.mark_unknown_outcome(f"session given up: {reason}")
            except Exception:
                log.exception("%s: logout failed", self.name)
            self._refs.clear()
            self.releases += 1
        log.warning("%s: session released by %s: %s", self.name, self.gateway.instance,
                    reason)
        self.bus.call_soon(self._standby)

    def _standby(self) -> None:
        if self.state == "releasing":
            self.state = "standby"

    def stop(self, timeout: float) -> None:
        """Stop answering requests and give the lease back (the connector is closed by the
        manager's stop, with its ``on_stop`` policy)."""
        commands, self._commands = self._commands, None
        if commands is not None:
            self.bus.unsubscribe(commands, timeout)
        if self._fence_timer is not None:
            self.bus.call_soon(self._fence_timer.cancel)
        self._orders.shutdown(wait=True, cancel_futures=True)
        self._data.shutdown(wait=True, cancel_futures=True)

    # ================================================================ requests
    def _on_request(self, msg: Msg) -> None:
        op = msg.subject.rsplit(".", 1)[-1]
        self.requests[op] = self.requests.get(op, 0) + 1
        if op == "ping":
            self._ping(msg)
            return
        handler = {"submit": self._submit, "cancel": self._cancel, "replace": self._replace,
                   "status": self._status, "subscribe": self._subscribe,
                   "unsubscribe": self._unsubscribe}.get(op)
        if handler is None:
            self._refuse(msg, f"unknown request {op!r}")
            return
        pool = self._data if op in ("subscribe", "unsubscribe") else self._orders
        pool.submit(self._guarded, handler, msg)

    def _guarded(self, handler: Any, msg: Msg) -> None:
        try:
            handler(msg)
        except Exception as exc:  # every request gets an answer
            log.exception("%s: request on %s failed", self.name, msg.subject)
            self._reply(msg, {"ok": False, "not_sent": False,
                              "reason": f"{type(exc).__name__}: {exc}"})

    def _reply(self, msg: Msg, answer: dict[str, Any]) -> None:
        self.bus.respond(msg, codec.encode({**answer, "epoch": self.lease.epoch,
                                            "instance": self.gateway.instance}))

    def _refuse(self, msg: Msg, reason: str) -> None:
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning("%s: request on %s refused (%d so far): %s", self.name, msg.subject,
                        self.refused, reason)
        self._reply(msg, {"ok": False, "not_sent": True, "reason": reason})

    def _decode(self, msg: Msg) -> dict[str, Any] | None:
        try:
            return codec.decode(msg.data)
        except codec.DecodeError as exc:
            self._refuse(msg, f"malformed request: {exc}")
            return None

    def _ping(self, msg: Msg) -> None:
        try:
            client = check_name("client", str(codec.decode(msg.data).get("client", "")))
        except (codec.DecodeError, ValueError) as exc:
            self._refuse(msg, f"malformed ping: {exc}")
            return
        self._seen[client] = time.monotonic()
        c = self.connector
        self._reply(msg, {"ok": self.lease.fence() is not None, "status": c.status.value,
                          "changes": c.stats.status_changes,
                          "data_only": c.data_only or c.read_only,
                          "order_types": sorted(t.value for t in c.capabilities.order_types)})

    # -- orders -----------------------------------------------------------------------------
    def _order_state(self, cid: str, *, journal: bool = True
                     ) -> tuple[dict[str, Any] | None, bool]:
        """(the state of ``cid``, whether it is settled) from the connector, the events
        stream or (with ``journal``) the journal; (None, False) when none has it. A
        submission skips the journal: it is refused once older than its ``order_timeout``,
        and an order that young is still held by the connector or the stream."""
        try:
            order = self.connector.find_order(cid)
        except UnknownOrderError:
            order = None
        if order is not None:
            return codec.order_snapshot(order), not order.unknown_outcome
        state = self.gateway.replica.find(cid)
        if state is None and journal and self.connector.journal is not None:
            old = self.connector.journal.find(cid)
            if old is not None and old.connector == self.name:
                return codec.order_snapshot(old), old.is_terminal and not old.unknown_outcome
        if state is not None:
            if state["status"] == "PENDING" and state.get("instance") == \
                    self.gateway.instance and state.get("epoch") == self.lease.epoch:
                return self._never_sent(state), True
            settled = state["status"] not in ("PENDING", "SUBMITTED", "PARTIALLY_FILLED")
            return state, settled and not state.get("unknown_outcome")
        return None, False

    def _never_sent(self, state: dict[str, Any]) -> dict[str, Any]:
        """An intent this instance wrote in this epoch for an order its connector never
        took (the send did not happen): settle it as rejected, on the stream too."""
        order = codec.order_from_snapshot(state)
        order.apply_status(OrderStatus.REJECTED, "not sent: the gateway failed before sending")
        self._decide_rejected(order, str(state.get("owner") or _NO_OWNER))
        return codec.order_snapshot(order)

    def _decide(self, cid: str, owner: str, kind: str, order: Order | None) -> bool:
        """Write the first word on ``cid`` to the events stream, with ``cid`` as its
        JetStream message id: True when ours is the first (within the stream's duplicate
        window, whichever gateway instance wrote before). A stream without a leader for a
        moment (an election) is retried with the same id for up to ``_DECIDE_S``; a
        duplicate that is our own earlier attempt counts as ours."""
        epoch = self.lease.epoch
        message = {"kind": kind, "client_order_id": cid, "connector": self.name,
                   "owner": owner, "status": order.status.value if order else None,
                   "order": codec.order_snapshot(order) if order is not None else None,
                   "epoch": epoch, "instance": self.gateway.instance}
        data = codec.encode(message)
        js = self.bus.js

        async def publish() -> Any:
            return await js.publish(self.subjects.event(self.name, owner, cid), data,
                                    headers={"Nats-Msg-Id": cid}, timeout=2.0)

        deadline = time.monotonic() + _DECIDE_S
        while True:
            try:
                ack = self.bus.run(publish(), 3.0)
                break
            except Exception as exc:
                if time.monotonic() >= deadline or self.gateway.stopping:
                    raise
                log.info("%s: the events stream did not take %s (%s); again", self.name,
                         cid, type(exc).__name__)
                self._retry_pause.wait(0.1)
        if not ack.duplicate:
            return True

        async def original() -> Any:
            return await js.get_msg(self.subjects.events_stream, seq=ack.seq)

        try:
            first = codec.decode(self.bus.run(original(), 3.0).data)
        except Exception:
            return False
        return bool(first.get("instance") == self.gateway.instance and
                    first.get("epoch") == epoch and first.get("kind") == kind)

    def _decided_elsewhere(self, cid: str) -> tuple[str, dict[str, Any] | None]:
        """After a duplicate on the stream: what the first word on ``cid`` was, once the
        replica has read up to the stream's end: ``("order", state)``, ``("closed",
        None)`` (a tombstone: never sent, never will be) or ``("unknown", None)``."""
        replica = self.gateway.replica
        replica.wait_for(self.gateway.stream_last_seq(), 5.0)
        state = replica.find(cid)
        if state is not None:
            return "order", state
        if replica.decided(cid):
            return "closed", None
        return "unknown", None

    def _submit(self, msg: Msg) -> None:
        d = self._decode(msg)
        if d is None:
            return
        cid = d.get("client_order_id")
        try:
            owner = check_name("owner", str(d.get("owner", "")))
            if not isinstance(cid, str) or not cid:
                raise ValueError("client_order_id missing")
        except ValueError as exc:
            self._refuse(msg, f"invalid order: {exc}")
            return
        state, _ = self._order_state(cid, journal=False)
        if state is not None:  # a retried submission: answered, never sent again
            self._reply(msg, {"ok": True, "duplicate": True, "order": state})
            return
        if now_ns() > int(d.get("expires_ns") or 0):
            if self._decide(cid, owner, "tombstone", None):
                self._refuse(msg, "the submission expired before the gateway read it")
            else:
                self._answer_duplicate(msg, cid)
            return
        epoch = self.lease.fence()
        if epoch is None:
            self._refuse(msg, f"{self.gateway.instance} does not hold {self.name}'s session")
            return
        try:
            order = codec.order_from_command(d, {OWNER_TAG: owner})
        except codec.DecodeError as exc:
            self._refuse(msg, str(exc))
            return
        refusal = self.connector.order_refusal(order)
        if refusal is not None:
            self._refuse(msg, refusal)
            return
        if not self._decide(cid, owner, "intent", order):
            self._answer_duplicate(msg, cid)
            return
        if self.lease.fence() != epoch:  # decided here, but the session is no longer ours
            order.apply_status(OrderStatus.REJECTED, "the gateway lost the session first")
            self._decide_rejected(order, owner)
            self._refuse(msg, "the gateway lost the session before sending")
            return
        try:
            self.connector.send_order(order)
        except (NotConnectedError, OrderRejectedError) as exc:
            self._reply(msg, {"ok": False, "not_sent": True, "reason": str(exc),
                              "order": codec.order_snapshot(order)})
            return
        self._reply(msg, {"ok": True, "duplicate": False, "order": codec.order_snapshot(order)})

    def _answer_duplicate(self, msg: Msg, cid: str) -> None:
        kind, state = self._decided_elsewhere(cid)
        if kind == "order":
            self._reply(msg, {"ok": True, "duplicate": True, "order": state})
        elif kind == "closed":
            self._refuse(msg, f"order id {cid} was closed as never received")
        else:
            self._reply(msg, {"ok": False, "not_sent": False, "duplicate": True,
                              "reason": "another gateway instance decided this order"})

    def _decide_rejected(self, order: Order, owner: str) -> None:
        message = {"kind": "rejected", "client_order_id": order.client_order_id,
                   "connector": self.name, "owner": owner, "status": order.status.value,
                   "order": codec.order_snapshot(order), "epoch": self.lease.epoch,
                   "instance": self.gateway.instance}
        self.gateway.events.append(
            self.subjects.event(self.name, owner, order.client_order_id),
            codec.encode(message))

    def _cancel(self, msg: Msg) -> None:
        d = self._decode(msg)
        if d is None:
            return
        cid = str(d.get("client_order_id", ""))
        if self.lease.fence() is None:
            self._refuse(msg, f"{self.gateway.instance} does not hold {self.name}'s session")
            return
        try:
            sent = self.connector.cancel_order(cid)
        except UnknownOrderError:
            self._reply(msg, {"ok": False, "not_sent": True, "unknown": True,
                              "reason": f"unknown order {cid!r}"})
            return
        except ConnectorError as exc:
            self._refuse(msg, str(exc))
            return
        self._reply(msg, {"ok": True, "sent": sent})

    def _replace(self, msg: Msg) -> None:
        d = self._decode(msg)
        if d is None:
            return
        if self.lease.fence() is None:
            self._refuse(msg, f"{self.gateway.instance} does not hold {self.name}'s session")
            return
        try:
            sent = self.connector.replace_order(str(d.get("client_order_id", "")),
                                                quantity=d.get("quantity"),
                                                price=d.get("price"))
        except (ConnectorError, UnknownOrderError) as exc:
            self._refuse(msg, str(exc))
            return
        self._reply(msg, {"ok": True, "sent": sent})

    def _status(self, msg: Msg) -> None:
        """The truth about each asked id: its state, ``never_received`` (and it never will
        be: the id is closed on the stream), or nothing (not known for sure yet)."""
        d = self._decode(msg)
        if d is None:
            return
        try:
            owner = check_name("owner", str(d.get("owner", "")))
            ids = [str(i) for i in d["ids"]]
        except (KeyError, TypeError, ValueError) as exc:
            self._refuse(msg, f"malformed status request: {exc}")
            return
        answers: dict[str, Any] = {}
        for cid in ids:
            state, settled = self._order_state(cid)
            if state is not None:
                answers[cid] = {"order": state, "settled": settled}
            elif self.gateway.replica.decided(cid) or (
                    self.lease.fence() is not None
                    and not self._decide(cid, owner, "tombstone", None)):
                kind, found = self._decided_elsewhere(cid)
                if kind == "order":
                    answers[cid] = {"order": found, "settled": False}
                elif kind == "closed":
                    answers[cid] = {"never_received": True}
            elif self.lease.fence() is not None:
                answers[cid] = {"never_received": True}
        self._reply(msg, {"ok": True, "orders": answers})

    # -- subscriptions ----------------------------------------------------------------------
    def _subscribe(self, msg: Msg) -> None:
        d = self._decode(msg)
        if d is None:
            return
        try:
            client = check_name("client", str(d.get("client", "")))
            kind = str(d["kind"])
            symbol = str(d.get("symbol", ""))
            method = getattr(self.connector, KINDS[kind])
        except (KeyError, ValueError, AttributeError) as exc:
            self._refuse(msg, f"bad subscription: {type(exc).__name__}: {exc}")
            return
        if self.lease.fence() is None:
            self._refuse(msg, f"{self.gateway.instance} does not hold {self.name}'s session")
            return
        self._seen[client] = time.monotonic()
        clients = self._refs.setdefault((kind, symbol), {})
        depth = int(d.get("depth") or 10)
        first = not clients
        deeper = kind == "book" and depth > max(clients.values(), default=0)
        clients[client] = depth
        if first or deeper:
            try:
                args = (symbol, max(clients.values())) if kind == "book" else \
                    (symbol,) if symbol else ()
                ok = method(*args)
            except Exception as exc:
                del clients[client]
                if not clients:
                    del self._refs[(kind, symbol)]
                self._refuse(msg, f"{type(exc).__name__}: {exc}")
                return
            if ok is False:
                del clients[client]
                if not clients:
                    del self._refs[(kind, symbol)]
                self._refuse(msg, f"{self.name} has no {kind} data")
                return
        self._reply(msg, {"ok": True, "subscribers": len(clients)})

    def _unsubscribe(self, msg: Msg) -> None:
        d = self._decode(msg)
        if d is None:
            return
        try:
            client = check_name("client", str(d.get("client", "")))
        except ValueError as exc:
            self._refuse(msg, str(exc))
            return
        symbol = None if d.get("all") else str(d.get("symbol", ""))
        self._drop(client, symbol, str(d.get("kind", "*")))
        self._reply(msg, {"ok": True})

    def _drop(self, client: str, symbol: str | None, kind: str = "*") -> None:
        """Forget ``client``'s subscriptions (of ``symbol``, or all with None); a stream
        nobody wants any more is stopped at the venue."""
        emptied: set[str] = set()
        for (k, sym), clients in list(self._refs.items()):
            if (symbol is None or sym == symbol) and kind in ("*", k) and \
                    clients.pop(client, None) is not None and not clients:
                del self._refs[(k, sym)]
                emptied.add(sym)
        for sym in emptied:
            if not sym or self.lease.fence() is None:
                continue
            try:
                self.connector.unsubscribe(sym)
                for (k, other), clients in self._refs.items():  # what others still want
                    if other == sym and clients:
                        method = getattr(self.connector, KINDS[k])
                        method(*((sym, max(clients.values())) if k == "book" else (sym,)))
            except Exception as exc:
                log.warning("%s: unsubscribe %s failed: %s", self.name, sym, exc)

    def sweep_clients(self, timeout: float) -> None:
        """Drop the subscriptions of clients silent for ``timeout`` seconds (bus loop)."""
        cutoff = time.monotonic() - timeout
        for client, seen in list(self._seen.items()):
            if seen < cutoff:
                del self._seen[client]
                self._data.submit(self._drop, client, None)

    def subscriber_counts(self) -> dict[str, int]:
        return {f"{k}:{s}": len(c) for (k, s), c in list(self._refs.items())}

    def stats(self) -> dict[str, Any]:
        return {"state": self.state, "status": self.connector.status.value,
                "lease": self.lease.stats(), "takeovers": self.takeovers,
                "releases": self.releases, "last_takeover_s": self.last_takeover_s,
                "requests": dict(self.requests), "refused": self.refused,
                "clients": len(self._seen), "subscriptions": self.subscriber_counts()}


def status_message(connector: BaseConnector, old: ConnectorStatus | None,
                   reason: str | None, epoch: int, instance: str) -> dict[str, Any]:
    return {"connector": connector.name, "status": connector.status.value,
            "old": old.value if old is not None else None, "reason": reason, "epoch": epoch,
            "instance": instance, "ts": now_ns(),
            "changes": connector.stats.status_changes}


__all__ += ["KINDS", "status_message"]
