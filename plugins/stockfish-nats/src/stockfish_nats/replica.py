"""Every order a gateway's sessions handled, rebuilt from its events stream.

Each order event on the stream carries the order's whole state after it; the replica keeps
the latest state per client order id (a state older than the one held, e.g. published
late by a holder that was cut off, never replaces a newer one). A standby restores the
open orders of a session from it when it takes the session over, so it knows every order
the dead holder had, fills included; the venue then tells the truth about each
(reconciliation). The holder uses it to answer for orders it does not hold itself.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from stockfish_core.orders import Order

from stockfish_nats import codec
from stockfish_nats.subjects import Subjects

__all__ = ["OrderReplica"]

log = logging.getLogger(__name__)

_OPEN = {"PENDING", "SUBMITTED", "PARTIALLY_FILLED"}


class OrderReplica:
    """The latest state of each order, by client order id (terminal ones are kept up to
    ``max_terminal``, oldest forgotten first)."""

    def __init__(self, subjects: Subjects, max_terminal: int = 100_000) -> None:
        self.subjects = subjects
        self.max_terminal = max_terminal
        self.last_seq = 0
        self.applied = 0
        self.rejected = 0
        self._states: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Ids with an intent or a tombstone, oldest first (bounded: an id matters for as
        # long as a submission of it can still arrive, seconds, not millions of orders).
        self._decided: OrderedDict[str, None] = OrderedDict()
        self.max_decided = 1_000_000
        self._cond = threading.Condition()
        self._subscription: Any = None
        self._status_prefix = subjects.status("")

    def start(self, bus: Any, timeout: float = 10.0) -> None:
        """Follow the stream from its first message (an ordered consumer)."""
        # Statuses too (and skipped): the stream's last sequence is then one this
        # consumer sees, so "caught up" can be told.
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL,
                                filter_subjects=self.subjects.stream_subjects())

        async def follow() -> Any:
            return await bus.js.subscribe(
                self.subjects.events_all(), stream=self.subjects.events_stream,
                ordered_consumer=True, cb=self._on_message, config=config,
                pending_msgs_limit=1_000_000)

        self._subscription = bus.run(follow(), timeout)

    async def _on_message(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if msg.subject.startswith(self._status_prefix):
            with self._cond:
                self.last_seq = max(self.last_seq, seq)
                self._cond.notify_all()
            return
        self.apply(msg.data, seq)

    def apply(self, data: bytes, seq: int) -> None:
        try:
            message = codec.decode(data)
            state = message["order"]
            cid = str(message["client_order_id"])
            kind = message["kind"]
        except (codec.DecodeError, KeyError, TypeError) as exc:
            self.rejected += 1
            log.warning("order replica: message %d refused: %s", seq, exc)
            with self._cond:
                self.last_seq = max(self.last_seq, seq)
                self._cond.notify_all()
            return
        with self._cond:
            self.last_seq = max(self.last_seq, seq)
            self._decided[cid] = None
            if len(self._decided) > self.max_decided:
                self._decided.popitem(last=False)
            if state is not None and kind != "tombstone":
                held = self._states.get(cid)
                if held is None or int(state.get("updated_ns", 0)) >= \
                        int(held.get("updated_ns", 0)):
                    self._states[cid] = {**state, "owner": message.get("owner"),
                                         "instance": message.get("instance"),
                                         "epoch": message.get("epoch")}
                    self._states.move_to_end(cid)
                self._trim()
            self.applied += 1
            self._cond.notify_all()

    def _trim(self) -> None:
        excess = len(self._states) - self.max_terminal
        if excess <= 0:
            return
        for cid in list(self._states):
            if excess <= 0:
                break
            if self._states[cid]["status"] not in _OPEN:
                del self._states[cid]
                excess -= 1

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Wait until every message up to stream sequence ``seq`` is applied."""
        with self._cond:
            return self._cond.wait_for(lambda: self.last_seq >= seq, timeout)

    def decided(self, client_order_id: str) -> bool:
        with self._cond:
            return client_order_id in self._decided

    def find(self, client_order_id: str) -> dict[str, Any] | None:
        with self._cond:
            state = self._states.get(client_order_id)
            return dict(state) if state is not None else None

    def open_orders(self, connector: str) -> list[Order]:
        """The orders of ``connector`` not terminal (or not settled) in the last state the
        stream holds, as new objects."""
        with self._cond:
            states = [s for s in self._states.values() if s.get("connector") == connector
                      and (s["status"] in _OPEN or s.get("unknown_outcome"))]
        orders = []
        for state in states:
            try:
                order = codec.order_from_snapshot(state)
            except codec.DecodeError as exc:
                log.error("order replica: %s cannot be rebuilt: %s",
                          state.get("client_order_id"), exc)
                continue
            order.connector = None
            orders.append(order)
        return orders

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"orders": len(self._states), "last_seq": self.last_seq,
                    "applied": self.applied, "rejected": self.rejected}
