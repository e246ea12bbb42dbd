"""``ZMQRepublisher``: normalized updates from a router -> one ZeroMQ PUB socket, in the
feed's own wire format, so that one process holding the venue sessions fans its data out
to any number of subscribers (another ``zmq`` connector, or plain pyzmq + JSON).

Each republished message carries the republisher's own per-symbol sequence (starting at 1),
so a downstream ``zmq`` connector sequences and gap-checks the merged stream like any
feed; ``source`` and ``source_sequence`` keep where it came from. Ticks, books, trades and
custom dicts map to ``ticker`` / ``depth`` / ``trade`` / ``custom``; other kinds (bars, news,
macro) go out as ``custom`` with a ``data_type`` field. Updates without a symbol are counted
as ``skipped``.

The router callback only appends to a bounded queue (a slow network never stalls the feed:
overflow drops the oldest and counts it); one sender thread encodes and sends.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import zmq
from stockfish_core.models import (
    DataType,
    MarketUpdate,
    OrderBookSnapshot,
    PriceTick,
    Trade,
)
from stockfish_core.router import DataFeedRouter, OverflowPolicy

__all__ = ["ZMQRepublisher", "encode_update"]

_WIRE_TYPES = {DataType.PRICE_TICK: "ticker", DataType.ORDERBOOK_SNAPSHOT: "depth",
               DataType.TRADE: "trade", DataType.CUSTOM: "custom"}


def _data(update: MarketUpdate) -> tuple[str, dict[str, Any]]:
    payload = update.payload
    if isinstance(payload, PriceTick):
        fields = {"bid": payload.bid, "ask": payload.ask, "last": payload.last,
                  "bid_size": payload.bid_size, "ask_size": payload.ask_size,
                  "last_size": payload.last_size, "volume": payload.volume}
        return "ticker", {k: v for k, v in fields.items() if v is not None}
    if isinstance(payload, OrderBookSnapshot):
        return "depth", {"bids": [[lv.price, lv.size] for lv in payload.bids],
                         "asks": [[lv.price, lv.size] for lv in payload.asks]}
    if isinstance(payload, Trade):
        trade: dict[str, Any] = {"price": payload.price, "size": payload.size}
        if payload.side is not None:
            trade["side"] = payload.side
        if payload.trade_id is not None:
            trade["trade_id"] = payload.trade_id
        return "trade", trade
    if isinstance(payload, dict):
        return "custom", payload
    return "custom", {"data_type": update.data_type.value, **payload.to_dict()}


def encode_update(update: MarketUpdate, sequence: int) -> bytes:
    """One update as a wire frame with ``sequence`` (raises ``TypeError`` if unencodable)."""
    kind, data = _data(update)
    return orjson.dumps({"type": kind, "symbol": update.symbol, "sequence": sequence,
                         "timestamp": update.ts_event, "source": update.source,
                         "source_sequence": update.sequence, "data": data})


class ZMQRepublisher:
    """Republish what ``router`` carries (optionally only some types / symbols) on a PUB
    socket bound to ``endpoint`` (``tcp://127.0.0.1:*``: an ephemeral port; see
    :attr:`endpoint` after :meth:`start`).

    Counters: ``published``, ``dropped`` (queue overflow), ``skipped`` (no symbol),
    ``errors`` (unencodable payloads); ``subscribers`` is how many subscriptions are open.
    """

    def __init__(self, router: DataFeedRouter, endpoint: str = "tcp://127.0.0.1:*", *,
                 data_types: Any = None, symbols: Any = None, queue_size: int = 100_000,
                 high_water_mark: int = 100_000) -> None:
        self.router = router
        self.bind_address = endpoint
        self.endpoint = ""
        self.data_types = data_types
        self.symbols = symbols
        self.queue_size = queue_size
        self.high_water_mark = high_water_mark
        self.published = 0
        self.skipped = 0
        self.errors = 0
        self.subscribers = 0
        self._queue: Any = None
        self._sequences: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._failure: BaseException | None = None

    @property
    def dropped(self) -> int:
        """Updates lost because the sender fell ``queue_size`` behind."""
        return self._queue.dropped if self._queue is not None else 0

    def start(self, timeout: float = 5.0) -> str:
        """Bind and start the sender thread; return the bound endpoint."""
        if self._thread is not None and self._thread.is_alive():
            return self.endpoint
        self._stop.clear()
        bound = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(bound,), daemon=True,
                                        name="zmq-republisher")
        self._thread.start()
        if not bound.wait(timeout) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"republisher cannot bind {self.bind_address}: "
                               f"{self._failure or 'timed out'}")
        self._queue = self.router.subscribe_queue(self.queue_size,
                                                  OverflowPolicy.DROP_OLDEST,
                                                  self.data_types, self.symbols)
        return self.endpoint

    def stop(self, timeout: float = 3.0) -> None:
        """Stop taking updates, send what is queued (bounded by ``timeout``), close."""
        if self._queue is not None:
            self._queue.close()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def wait_subscribers(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` subscriptions are open (updates sent before are lost to
        a subscriber not yet attached: that is how PUB/SUB works)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.subscribers >= count, timeout)

    def get_stats(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "published": self.published,
                "dropped": self.dropped, "skipped": self.skipped, "errors": self.errors,
                "subscribers": self.subscribers}

    def _run(self, bound: threading.Event) -> None:
        sock: Any = zmq.Context.instance().socket(zmq.XPUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, self.high_water_mark)
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
            sock.bind(self.bind_address)
            self.endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        except zmq.ZMQError as exc:
            self._failure = exc
            sock.close(linger=0)
            bound.set()
            return
        bound.set()
        try:
            while True:
                stopping = self._stop.is_set()
                queue = self._queue
                if queue is not None:
                    first = queue.get(timeout=0 if stopping else 0.05)
                    if first is not None:
                        self._send(sock, first)
                        for update in queue.drain(1000):
                            self._send(sock, update)
                elif not stopping:
                    self._stop.wait(0.01)
                self._read_subscriptions(sock)
                if stopping and (queue is None or not len(queue)):
                    break
        finally:
            sock.close(linger=0)

    def _send(self, sock: Any, update: MarketUpdate) -> None:
        symbol = update.symbol
        if not symbol:
            self.skipped += 1
            return
        sequence = self._sequences.get(symbol, 0) + 1
        try:
            frame = encode_update(update, sequence)
        except (TypeError, ValueError):
            self.errors += 1
            return
        self._sequences[symbol] = sequence
        sock.send_multipart([symbol.encode(), frame])
        self.published += 1

    def _read_subscriptions(self, sock: Any) -> None:
        changed = False
        while True:
            try:
                event = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if event[:1] == b"\x01":
                self.subscribers += 1
                changed = True
            elif event[:1] == b"\x00":
                self.subscribers = max(0, self.subscribers - 1)
                changed = True
        if changed:
            with self._cond:
                self._cond.notify_all()
