"""The ``zmq`` connector: SUB sockets on one or more publishers, one poller thread,
decode -> filter -> sequence -> router.

Connection model: ZeroMQ reconnects a SUB socket to a vanished publisher by itself
(``reconnect_interval``). A socket monitor tells the poller which endpoints are up; when
every endpoint is down the connector reports the connection lost, and the core's
``reconnect()`` calls :meth:`ZMQConnector.connect` again, which waits for ZeroMQ to bring an
endpoint back (sockets are kept: nothing buffered on a live endpoint is lost).

A SUB socket never notices a publisher that is connected but quiet. The poller does: when
no frame (data or ``{"type": "heartbeat"}``) has arrived for two ``heartbeat_interval``s
(the core's ``is_stale()``), it reports RECONNECTING with the reason, so the manager's
health and feed arbitration treat the feed as down, and it reports CONNECTED again on the
next frame. Nothing is torn down for it (re-creating sockets cannot make a quiet publisher
speak and would lose what ZeroMQ has queued), which is why the core's silence watchdog,
which would run a full reconnect, is off here.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from typing import Any

import zmq
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import SubscriptionError
from stockfish_core.models import DataType, MarketUpdate, OrderBookSnapshot, now_ns

from stockfish_zmq.decode import FrameDecoder, FrameError
from stockfish_zmq.plugin import CAPABILITIES
from stockfish_zmq.sequencer import Sequencer
from stockfish_zmq.settings import ZMQSettings

__all__ = ["ALL_SYMBOLS", "ZMQConnector"]

log = logging.getLogger(__name__)

#: Subscribe to every symbol the publishers send.
ALL_SYMBOLS = "*"

_FEED_DATA_TYPES = {"ticker": DataType.PRICE_TICK, "depth": DataType.ORDERBOOK_SNAPSHOT,
                    "trade": DataType.TRADE, "custom": DataType.CUSTOM}
_PRICE_TYPES = frozenset({DataType.PRICE_TICK, DataType.TRADE, DataType.CUSTOM})
_BOOK_TYPES = frozenset({DataType.ORDERBOOK_SNAPSHOT, DataType.CUSTOM})
_BATCH = 64            # messages taken from one socket before looking at the others: small,
#                        so that redundant copies are read close together (their skew must
#                        stay well inside the reorder window)
_ASK_FIRST = 8         # frames read per poll wake-up after asking ZMQ_EVENTS (see _loop)
_TICK_S = 0.05         # poll timeout: how often gap timeouts and idle state are checked


class ZMQConnector(BaseConnector):
    """Market data from ZeroMQ JSON publishers. Data only: orders are refused."""

    connector_type = "zmq"
    capabilities = CAPABILITIES
    settings_class = ZMQSettings
    # Silence is reported by the poller (RECONNECTING until the next frame): see module doc.
    watchdog = False

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: ZMQSettings = self.settings
        self._allowed = frozenset(_FEED_DATA_TYPES[t] for t in s.feed_types)
        self._wanted: dict[str, frozenset[DataType]] = {}
        self._depths: dict[str, int] = {}
        self._decoder = FrameDecoder(self.name, max_message_size=s.max_message_size,
                                     require_sequence=s.sequence_mode != "off")
        self._sequencer: Sequencer | None = None
        if s.sequence_mode != "off":
            self._sequencer = Sequencer(self._deliver, self._on_gap, self._on_reset,
                                        mode=s.sequence_mode, window=s.reorder_window,
                                        gap_timeout=s.gap_timeout,
                                        reset_threshold=s.reset_threshold)
        self._context: zmq.Context[Any] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._up_event = threading.Event()
        self._endpoints_up: set[str] = set()
        self._ever_up = False
        self._links: dict[str, int] = {}  # endpoint -> id of its current connection
        self._connected_before: set[str] = set()  # endpoints that had a connection
        self._silent = False  # RECONNECTING because the publishers went quiet (see module doc)
        self.zmq_counters: Counter[str] = Counter()
        self.messages_by_endpoint: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle
    def connect(self) -> bool:
        """Start the poller (once) and wait up to ``connect_timeout`` for an endpoint."""
        if self.is_connected and self._poller_alive():
            return True
        self.set_status(ConnectorStatus.CONNECTING)
        if not self._poller_alive():
            self._stop.clear()
            self._up_event.clear()
            self._endpoints_up.clear()
            started = threading.Event()
            failure: list[BaseException] = []
            self._thread = threading.Thread(target=self._run, args=(started, failure),
                                            name=f"{self.name}-zmq", daemon=True)
            self._thread.start()
            started.wait(self.settings.connect_timeout)
            if failure:
                return self.connect_failed(f"cannot open sockets: {failure[0]}")
        if not self._up_event.wait(self.settings.connect_timeout):
            return self.connect_failed(f"no publisher reachable at "
                                       f"{', '.join(self.settings.endpoints)} within "
                                       f"{self.settings.connect_timeout:g}s")
        self._silent = False
        self.record_heartbeat()
        self.set_status(ConnectorStatus.CONNECTED)
        return True

    def disconnect(self) -> None:
        """Stop the poller and close every socket (returns within about 1 s)."""
        self._stop.set()
        self._silent = False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._thread = None
        self.set_status(ConnectorStatus.DISCONNECTED)

    def is_connected_check(self) -> bool:
        return self.is_connected and self._poller_alive() and bool(self._endpoints_up)

    def _poller_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # ------------------------------------------------------------------ subscriptions
    def subscribe_price(self, symbol: str) -> bool:
        """Deliver tickers, trades and custom messages for ``symbol`` (``"*"``: all)."""
        return self._want(symbol, _PRICE_TYPES, DataType.PRICE_TICK)

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Deliver depth snapshots for ``symbol`` cut to ``depth`` levels per side."""
        if depth < 1:
            raise SubscriptionError(f"{self.name}: depth must be >= 1, got {depth}")
        self._depths = {**self._depths, symbol: depth}
        return self._want(symbol, _BOOK_TYPES, DataType.ORDERBOOK_SNAPSHOT, depth=depth)

    def subscribe_news(self) -> bool:
        log.info("%s: the ZeroMQ feed format carries no news", self.name)
        return False

    def subscribe_macro(self) -> bool:
        log.info("%s: the ZeroMQ feed format carries no macro events", self.name)
        return False

    def unsubscribe(self, symbol: str) -> None:
        wanted = dict(self._wanted)
        wanted.pop(symbol, None)
        self._wanted = wanted
        self._depths = {k: v for k, v in self._depths.items() if k != symbol}
        self.forget_subscriptions(symbol)

    def _want(self, symbol: str, types: frozenset[DataType], data_type: DataType,
              **params: Any) -> bool:
        if not isinstance(symbol, str) or not symbol or len(symbol) > 64:
            raise SubscriptionError(f"{self.name}: invalid symbol {symbol!r}")
        listed = self.settings.symbols
        if listed and symbol != ALL_SYMBOLS and symbol not in listed:
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r}: the feed "
                                    f"carries {', '.join(listed)}")
        if not types & self._allowed:
            raise SubscriptionError(
                f"{self.name}: feed_types {', '.join(self.settings.feed_types)} carry no "
                f"{data_type.value} data")
        # Copy-on-write: the poller reads ``_wanted`` without a lock.
        self._wanted = {**self._wanted, symbol: self._wanted.get(symbol, frozenset()) | types}
        self.record_subscription(data_type, symbol, **params)
        return True

    # ------------------------------------------------------------------ normalizers
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        return self._normalize(data, DataType.PRICE_TICK)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        return self._normalize(data, DataType.ORDERBOOK_SNAPSHOT)

    def on_news(self, data: Any) -> MarketUpdate | None:
        self.record_data_error("unsupported_type", "the ZeroMQ feed format carries no news")
        return None

    def on_macro(self, data: Any) -> MarketUpdate | None:
        self.record_data_error("unsupported_type", "the ZeroMQ feed format carries no macro")
        return None

    def _normalize(self, data: Any, expected: DataType) -> MarketUpdate | None:
        """Decode one frame (bytes, str or dict) outside the feed; ``None`` if rejected."""
        try:
            if isinstance(data, dict):
                import orjson

                data = orjson.dumps(data)
            elif isinstance(data, str):
                data = data.encode()
            update = self._decoder.decode(data)
        except FrameError as exc:
            self.record_data_error(exc.kind, str(exc))
            return None
        except TypeError as exc:  # orjson cannot encode it
            self.record_data_error("wrong_type", str(exc))
            return None
        if update is None or update.data_type is not expected:
            self.record_data_error("unexpected_type",
                                   f"expected {expected.value}, got "
                                   f"{'heartbeat' if update is None else update.data_type.value}")
            return None
        return update

    # ------------------------------------------------------------------ stats
    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        seq = self._sequencer
        stats["zmq"] = {
            "endpoints": list(self.settings.endpoints),
            "endpoints_up": sorted(self._endpoints_up),
            "messages_by_endpoint": dict(self.messages_by_endpoint),
            "sequence_mode": self.settings.sequence_mode,
            "symbols_tracked": len(seq.streams) if seq else 0,
            "held_for_reorder": seq.buffered if seq else 0,
            "reordered": seq.reordered if seq else 0,
            "publisher_resets": seq.resets if seq else 0,
            "heartbeats": self.zmq_counters["heartbeats"],
            "silent": self._silent,
            "silences": self.zmq_counters["silences"],
            "filtered": self.zmq_counters["filtered"],
            "endpoint_disconnects": self.zmq_counters["endpoint_disconnects"],
            "endpoint_connects": self.zmq_counters["endpoint_connects"],
        }
        return stats

    # ------------------------------------------------------------------ poller thread
    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        s: ZMQSettings = self.settings
        context: Any = zmq.Context.instance()
        sockets: dict[Any, str] = {}
        monitors: dict[Any, str] = {}
        poller = zmq.Poller()
        try:
            for endpoint in s.endpoints:
                sock = context.socket(zmq.SUB)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.RCVHWM, s.high_water_mark)
                sock.setsockopt(zmq.RECONNECT_IVL, max(1, int(s.reconnect_interval * 1000)))
                sock.setsockopt(zmq.RECONNECT_IVL_MAX,
                                max(1, int(s.reconnect_interval * 10_000)))
                for topic in s.topics:
                    sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
                monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
                sock.connect(endpoint)
                sockets[sock] = endpoint
                monitors[monitor] = endpoint
                # Monitor first: poll reports in registration order, so a (re)connection
                # is known before the first frame that came on it is sequenced.
                poller.register(monitor, zmq.POLLIN)
                poller.register(sock, zmq.POLLIN)
        except zmq.ZMQError as exc:
            failure.append(exc)
            self._close(sockets, monitors)
            started.set()
            return
        started.set()
        try:
            self._loop(poller, sockets, monitors)
        except Exception as exc:  # never expected; report instead of dying silently
            log.exception("%s: the poller stopped", self.name)
            self._endpoints_up.clear()
            self.handle_connection_error(f"poller failed: {exc!r}")
        finally:
            self._close(sockets, monitors)

    def _loop(self, poller: zmq.Poller, sockets: dict[Any, str],
              monitors: dict[Any, str]) -> None:
        s: ZMQSettings = self.settings
        stop = self._stop
        sequencer = self._sequencer
        offer = sequencer.offer if sequencer is not None else None
        decode = self._decoder.decode
        stats = self.stats
        counters = self.zmq_counters
        by_endpoint = self.messages_by_endpoint
        links = self._links
        next_sweep = time.monotonic() + s.idle_symbol_ttl / 4
        noblock = int(zmq.NOBLOCK)
        events = int(zmq.EVENTS)
        pollin = int(zmq.POLLIN)
        again = zmq.Again
        # Per socket: its endpoint and bound methods (looked up once, not per frame).
        readers = {sock: (endpoint, sock.recv, sock.get) for sock, endpoint in sockets.items()}
        tick_ms = int(_TICK_S * 1000)
        silence_every = min(0.25, s.heartbeat_interval / 4)
        next_silence_check = 0.0
        connected = ConnectorStatus.CONNECTED
        waiting = sequencer.waiting if sequencer is not None else set()
        zmq_poll = zmq.zmq_poll  # Poller.poll is a Python wrapper around it
        poll_items = poller.sockets
        while not stop.is_set():
            # The poll timeout is what drives gap timeouts: wake when the oldest held gap
            # is due, not a whole tick later (and never in a busy loop: whole ms, >= 1).
            timeout = tick_ms
            if waiting and sequencer is not None:
                deadline = sequencer.next_deadline()
                if deadline is not None:
                    timeout = min(tick_ms, max(1, math.ceil((deadline - time.monotonic())
                                                            * 1000)))
            ready = zmq_poll(poll_items, timeout)
            now = time.monotonic()
            heard = False
            for sock, _ in ready:
                endpoint = monitors.get(sock)
                if endpoint is not None:
                    self._on_monitor_event(sock, endpoint)
                    continue
                endpoint, recv, get = readers[sock]
                link = links.get(endpoint, 0)
                taken = 0
                more = True
                while more and taken < _BATCH:
                    # Zero-copy frames: orjson reads the frame's buffer, and ``more`` says
                    # whether a part follows (the body is the last part) without a
                    # getsockopt per part.
                    try:
                        frame = recv(noblock, copy=False)
                        while frame.more:
                            frame = recv(noblock, copy=False)
                    except again:
                        break
                    taken += 1
                    stats.updates_received += 1
                    # An empty socket answers a read with an exception, which costs about
                    # five reads of ZMQ_EVENTS: ask whether another frame is waiting
                    # before each of the first few reads (a paced feed wakes the poller
                    # for one or two), then read on until the exception (a backlog).
                    if taken < _ASK_FIRST:
                        more = get(events) & pollin
                    try:
                        update = decode(frame.buffer)
                    except FrameError as exc:
                        self.record_data_error(exc.kind, str(exc))
                        continue
                    if update is None:
                        counters["heartbeats"] += 1
                        self.record_heartbeat()
                        continue
                    # Sequence numbers run per symbol across message types, so only
                    # whole symbols are filtered before sequencing; types after it.
                    wanted = self._wanted
                    if update.symbol not in wanted and ALL_SYMBOLS not in wanted:
                        counters["filtered"] += 1
                        continue
                    if offer is not None:
                        offer(update, now, link)
                    else:
                        self._deliver(update)
                by_endpoint[endpoint] += taken
                heard = heard or taken > 0
            if heard:
                # Any frame (even a filtered or malformed one) shows the feed is alive.
                stats.last_heartbeat_ns = now_ns()
                if self._silent:
                    self._end_silence()
            elif now >= next_silence_check:
                next_silence_check = now + silence_every
                if self.status is connected and self.is_stale():
                    self._begin_silence()
            if sequencer is not None:
                if waiting:
                    sequencer.expire(now)
                if now >= next_sweep:
                    sequencer.forget_idle(now, s.idle_symbol_ttl)
                    next_sweep = now + s.idle_symbol_ttl / 4

    def _deliver(self, update: MarketUpdate) -> None:
        data_type = update.data_type
        wanted = self._wanted
        types = wanted.get(update.symbol)
        if types is None or data_type not in types:
            types = wanted.get(ALL_SYMBOLS)
        if types is None or data_type not in types or data_type not in self._allowed:
            self.zmq_counters["filtered"] += 1
            return
        if data_type is DataType.ORDERBOOK_SNAPSHOT:
            depth = self._depths.get(update.symbol) or self._depths.get(ALL_SYMBOLS)
            book: OrderBookSnapshot = update.payload  # type: ignore[assignment]
            if depth is not None and book.depth > depth:
                book = OrderBookSnapshot(book.symbol, book.bids[:depth], book.asks[:depth],
                                         book.ts_event)
                update = MarketUpdate(update.data_type, update.symbol, update.source, book,
                                      update.sequence, update.ts_event, update.ts_recv)
        self.push_update(update)

    def _begin_silence(self) -> None:
        age = self.heartbeat_age() or 0.0
        self._silent = True
        self.zmq_counters["silences"] += 1
        self.set_status(ConnectorStatus.RECONNECTING,
                        f"publishers silent: no message or heartbeat for {age:.1f} s")

    def _end_silence(self) -> None:
        self._silent = False
        if self.status is ConnectorStatus.RECONNECTING:
            self.set_status(ConnectorStatus.CONNECTED, "publishers sending again")

    def _on_gap(self, symbol: str, first: int, last: int) -> None:
        self.record_sequence_gap(symbol, first, last)

    def _on_reset(self, symbol: str, expected: int, got: int) -> None:
        log.warning("%s: publisher restart on %s: sequence went from %d back to %d",
                    self.name, symbol, expected - 1, got)

    def _on_monitor_event(self, monitor: Any, endpoint: str) -> None:
        from zmq.utils.monitor import recv_monitor_message

        try:
            event = recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.Again:
            return
        kind = event["event"]
        if kind == zmq.EVENT_CONNECTED:
            if self._sequencer is not None:
                self._links[endpoint] = self._sequencer.note_new_link(
                    first=endpoint not in self._connected_before)
            self._connected_before.add(endpoint)
            self.zmq_counters["endpoint_connects"] += 1
            self._endpoints_up.add(endpoint)
            self._up_event.set()
            self._ever_up = True
            log.info("%s: publisher %s connected", self.name, endpoint)
        elif kind == zmq.EVENT_DISCONNECTED:
            self.zmq_counters["endpoint_disconnects"] += 1
            self._endpoints_up.discard(endpoint)
            log.warning("%s: publisher %s disconnected (%d of %d up)", self.name, endpoint,
                        len(self._endpoints_up), len(self.settings.endpoints))
            if not self._endpoints_up:
                self._up_event.clear()
                if self.is_connected or self._silent:
                    self._silent = False
                    self.handle_connection_error(
                        f"every publisher disconnected ({', '.join(self.settings.endpoints)})")

    @staticmethod
    def _close(sockets: dict[Any, str], monitors: dict[Any, str]) -> None:
        for sock in sockets:
            try:
                sock.disable_monitor()
            except zmq.ZMQError:
                pass
            sock.close(linger=0)
        for monitor in monitors:
            monitor.close(linger=0)
