"""``SimPublisher``: the seed's JSON feed format on XPUB sockets over 127.0.0.1.

It publishes the same stream on ``copies`` endpoints (a redundant feed), keeps per-symbol
sequence numbers and a record of every sequence it published, and injects faults: skipped
sequences (gaps), duplicates, malformed frames, bursts, a seeded mix of drops, duplicates,
reordering and corruption with a record of what was done (:meth:`SimPublisher.send_faulty`),
a restart on the same ports with or without a sequence reset, and one endpoint going away
and coming back (flapping).

XPUB (not PUB) so that :meth:`wait_subscribers` can wait until subscribers are attached
instead of guessing: ZeroMQ drops what a PUB sends before a subscriber has joined.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import zmq

__all__ = ["FaultLog", "SimPublisher"]


@dataclass
class FaultLog:
    """What :meth:`SimPublisher.send_faulty` did, per symbol (sequence numbers)."""

    published: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    dropped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    corrupted: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    duplicated: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    reordered: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    one_copy: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def lost(self, symbol: str) -> list[int]:
        """Sequences that never arrive intact: dropped or corrupted."""
        return sorted(self.dropped[symbol] + self.corrupted[symbol])

    def lost_ranges(self, symbol: str) -> list[tuple[int, int]]:
        """The lost sequences as contiguous ``(first, last)`` ranges: the gaps a subscriber
        must report (a trailing one only once a later message shows it)."""
        ranges: list[tuple[int, int]] = []
        for seq in self.lost(symbol):
            if ranges and ranges[-1][1] == seq - 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        return ranges

    def delivered(self, symbol: str) -> list[int]:
        """What a subscriber must deliver, in order."""
        lost = set(self.lost(symbol))
        return [s for s in self.published[symbol] if s not in lost]

    def counts(self) -> dict[str, int]:
        return {name: sum(len(v) for v in getattr(self, name).values())
                for name in ("published", "dropped", "corrupted", "duplicated", "reordered",
                             "one_copy")}


class SimPublisher:
    """A loopback feed publisher. Thread-safe: every socket use holds one lock."""

    def __init__(self, symbols: Sequence[str] = ("BTCUSD", "ETHUSD"), *, copies: int = 1,
                 seed: int = 7, topic: bool = True, start_price: float = 100.0,
                 first_sequence: int = 1, send_high_water_mark: int = 1_000_000) -> None:
        self.symbols = tuple(symbols)
        self.copies = copies
        self.topic = topic
        self.first_sequence = first_sequence
        self.send_high_water_mark = send_high_water_mark
        self.rng = random.Random(seed)
        self.prices = {s: start_price * (1 + i) for i, s in enumerate(self.symbols)}
        self.next_seq: dict[str, int] = {s: first_sequence for s in self.symbols}
        #: Every sequence published per symbol (skipped ones are absent).
        self.published: dict[str, list[int]] = defaultdict(list)
        self.frames_sent = 0
        #: Frames sent on each endpoint (what its subscriber must have received).
        self.frames_by_endpoint: list[int] = []
        self.endpoints: list[str] = []
        self._ports: list[int] = []
        self._sockets: list[Any | None] = []
        self._subscribers: list[int] = []
        self._lock = threading.RLock()
        self._context: Any = zmq.Context.instance()
        self._stream_stop = threading.Event()
        self._stream_thread: threading.Thread | None = None
        self._last_frames: list[bytes] | None = None

    # ------------------------------------------------------------------ sockets
    def start(self, ports: Sequence[int] = ()) -> list[str]:
        """Bind ``copies`` XPUB sockets on loopback, on ``ports`` (one per copy) or on
        ephemeral ports; return the endpoints."""
        if ports and len(ports) != self.copies:
            raise ValueError(f"{self.copies} copies need {self.copies} ports, got {ports!r}")
        with self._lock:
            for index in range(self.copies):
                sock = self._bind(f"tcp://127.0.0.1:{ports[index] if ports else '*'}")
                endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
                self.endpoints.append(endpoint)
                self._ports.append(int(endpoint.rsplit(":", 1)[1]))
                self._sockets.append(sock)
                self._subscribers.append(0)
                self.frames_by_endpoint.append(0)
        return list(self.endpoints)

    def _bind(self, address: str) -> Any:
        sock = self._context.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.SNDHWM, self.send_high_water_mark)
        # ZeroMQ closes a listener asynchronously: re-binding the port of a socket closed a
        # moment ago can find it still in use for a few milliseconds.
        deadline = time.monotonic() + 3.0
        pause = threading.Event()
        while True:
            try:
                sock.bind(address)
                return sock
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    sock.close(linger=0)
                    raise
                pause.wait(0.01)

    def stop_endpoint(self, index: int) -> None:
        """Close one endpoint: its subscribers see a disconnect."""
        with self._lock:
            sock = self._sockets[index]
            if sock is not None:
                sock.close(linger=0)
            self._sockets[index] = None
            self._subscribers[index] = 0

    def start_endpoint(self, index: int) -> None:
        """Bind a closed endpoint again on its old port."""
        with self._lock:
            if self._sockets[index] is None:
                self._sockets[index] = self._bind(self.endpoints[index])

    def restart(self, *, reset_sequences: bool = False) -> None:
        """Close and re-bind every endpoint on the same ports, as a restarted publisher
        process would; with ``reset_sequences`` numbering starts again at 1."""
        with self._lock:
            for index in range(len(self._sockets)):
                self.stop_endpoint(index)
            if reset_sequences:
                self.next_seq = {s: 1 for s in self.symbols}
            for index in range(len(self._sockets)):
                self.start_endpoint(index)

    def wait_subscribers(self, count: int = 1, timeout: float = 5.0,
                         endpoints: Iterable[int] | None = None) -> bool:
        """Wait until each chosen endpoint has ``count`` subscribers attached."""
        chosen = list(range(len(self._sockets)) if endpoints is None else endpoints)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._read_subscriptions()
                if all(self._subscribers[i] >= count for i in chosen):
                    return True
                poller = zmq.Poller()
                for i in chosen:
                    sock = self._sockets[i]
                    if sock is not None:
                        poller.register(sock, zmq.POLLIN)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller.poll(max(1, int(min(left, 0.05) * 1000)))

    def _read_subscriptions(self) -> None:
        for i, sock in enumerate(self._sockets):
            if sock is None:
                continue
            while True:
                try:
                    event = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if event[:1] == b"\x01":
                    self._subscribers[i] += 1
                elif event[:1] == b"\x00":
                    self._subscribers[i] = max(0, self._subscribers[i] - 1)

    def stop(self) -> None:
        """Stop streaming and close every socket."""
        self.stop_stream()
        with self._lock:
            for index in range(len(self._sockets)):
                self.stop_endpoint(index)

    # ------------------------------------------------------------------ messages
    def message(self, kind: str, symbol: str, data: dict[str, Any], *,
                sequence: int | None = None, timestamp: Any = None) -> dict[str, Any]:
        """Build a message; without ``sequence`` the symbol's next one is taken."""
        if sequence is None:
            sequence = self.next_seq.get(symbol, self.first_sequence)
            self.next_seq[symbol] = sequence + 1
        msg: dict[str, Any] = {"type": kind, "symbol": symbol, "sequence": sequence,
                               "data": data}
        msg["timestamp"] = time.time_ns() if timestamp is None else timestamp
        return msg

    def publish(self, msg: dict[str, Any], endpoints: Iterable[int] | None = None) -> None:
        """Send one message on every (or the chosen) live endpoint and record it."""
        body = orjson.dumps(msg)
        topic = msg.get("symbol", "").encode() if self.topic else None
        with self._lock:
            self._send([topic, body] if topic is not None else [body], endpoints)
            if isinstance(msg.get("sequence"), int):
                self.published[msg["symbol"]].append(msg["sequence"])

    def send_raw(self, *frames: bytes, endpoints: Iterable[int] | None = None) -> None:
        """Send frames exactly as given (malformed input)."""
        with self._lock:
            self._send(list(frames), endpoints)

    def _send(self, frames: list[bytes], endpoints: Iterable[int] | None) -> None:
        self._read_subscriptions()
        chosen = range(len(self._sockets)) if endpoints is None else endpoints
        for i in chosen:
            sock = self._sockets[i]
            if sock is not None:
                sock.send_multipart(frames)
                self.frames_sent += 1
                self.frames_by_endpoint[i] += 1
        self._last_frames = frames

    def ticker(self, symbol: str, **overrides: Any) -> dict[str, Any]:
        """The next random-walk ticker message for ``symbol`` (not yet sent)."""
        price = self.prices[symbol] * (1 + self.rng.uniform(-0.001, 0.001))
        self.prices[symbol] = price
        data = {"bid": round(price - 0.01, 4), "ask": round(price + 0.01, 4),
                "last": round(price, 4), "bid_size": float(self.rng.randint(1, 50)),
                "ask_size": float(self.rng.randint(1, 50)), "volume": 1000.0}
        return self.message("ticker", symbol, data, **overrides)

    def depth(self, symbol: str, levels: int = 5) -> dict[str, Any]:
        price = self.prices[symbol]
        return self.message("depth", symbol, {
            "bids": [[round(price - 0.01 * (i + 1), 4), float(10 + i)] for i in range(levels)],
            "asks": [[round(price + 0.01 * (i + 1), 4), float(10 + i)] for i in range(levels)],
        })

    def trade(self, symbol: str) -> dict[str, Any]:
        return self.message("trade", symbol, {"price": round(self.prices[symbol], 4),
                                              "size": 1.0, "side": "buy"})

    def send(self, count: int, kinds: Sequence[str] = ("ticker",)) -> int:
        """Publish ``count`` messages round-robin over symbols and ``kinds``."""
        makers = {"ticker": self.ticker, "depth": self.depth, "trade": self.trade}
        for i in range(count):
            symbol = self.symbols[i % len(self.symbols)]
            kind = kinds[(i // len(self.symbols)) % len(kinds)]
            self.publish(makers[kind](symbol))
        return count

    def skip(self, symbol: str, count: int) -> tuple[int, int]:
        """Consume ``count`` sequence numbers without sending them; return the lost range."""
        first = self.next_seq[symbol]
        self.next_seq[symbol] = first + count
        return first, first + count - 1

    def duplicate_last(self) -> None:
        """Send the last frames again."""
        with self._lock:
            if self._last_frames is not None:
                self._send(self._last_frames, None)

    def send_faulty(self, count: int, *, drop: float = 0.0, duplicate: float = 0.0,
                    reorder: float = 0.0, corrupt: float = 0.0, one_copy: float = 0.0,
                    kinds: Sequence[str] = ("ticker",)) -> FaultLog:
        """Publish ``count`` messages round-robin over symbols with faults drawn from the
        publisher's seeded generator, and return exactly what was done:

        - ``drop``: the message's sequence is consumed but nothing is sent (a gap);
        - ``corrupt``: a truncated, unparseable frame is sent instead (a data error *and*
          a gap: the message is lost);
        - ``duplicate``: the message is sent twice;
        - ``reorder``: the message is held back and sent after the next one;
        - ``one_copy``: on a redundant feed, sent on one endpoint only (nothing is lost
          while the other copy gets through).
        """
        makers = {"ticker": self.ticker, "depth": self.depth, "trade": self.trade}
        rng = self.rng
        log = FaultLog()
        held: dict[str, tuple[dict[str, Any], list[int] | None]] = {}
        for i in range(count):
            symbol = self.symbols[i % len(self.symbols)]
            kind = kinds[(i // len(self.symbols)) % len(kinds)]
            msg = makers[kind](symbol)
            seq = msg["sequence"]
            log.published[symbol].append(seq)
            roll = rng.random()
            if roll < drop:
                log.dropped[symbol].append(seq)
                continue
            if roll < drop + corrupt:
                log.corrupted[symbol].append(seq)
                body = orjson.dumps(msg)
                self.send_raw(symbol.encode(), body[: max(1, len(body) // 2)])
                continue
            endpoints = None
            if self.copies > 1 and rng.random() < one_copy:
                endpoints = [rng.randrange(self.copies)]
                log.one_copy[symbol].append(seq)
            if symbol not in held and rng.random() < reorder:
                # Held back until after the symbol's next message goes out.
                held[symbol] = (msg, endpoints)
                log.reordered[symbol].append(seq)
                continue
            self.publish(msg, endpoints)
            if rng.random() < duplicate:
                self.publish(msg, endpoints)
                log.duplicated[symbol].append(seq)
            if symbol in held:
                self.publish(*held.pop(symbol))
        for late, endpoints in held.values():
            self.publish(late, endpoints)
        return log

    def heartbeat(self) -> None:
        self.send_raw(b"heartbeat", orjson.dumps({"type": "heartbeat"}))

    # ------------------------------------------------------------------ streaming
    def stream(self, rate: float = 200.0, duration: float = 3600.0) -> None:
        """Publish tickers (and a depth/trade now and then) at ``rate`` messages/s in a
        background thread until :meth:`stop_stream` or ``duration`` seconds."""
        self.stop_stream()
        self._stream_stop.clear()
        self._stream_thread = threading.Thread(target=self._stream, args=(rate, duration),
                                               name="sim-publisher", daemon=True)
        self._stream_thread.start()

    def stop_stream(self) -> None:
        self._stream_stop.set()
        thread = self._stream_thread
        if thread is not None:
            thread.join(timeout=2.0)
        self._stream_thread = None

    def _stream(self, rate: float, duration: float) -> None:
        interval = 1.0 / rate
        end = time.monotonic() + duration
        count = 0
        while not self._stream_stop.wait(interval) and time.monotonic() < end:
            symbol = self.symbols[count % len(self.symbols)]
            round_ = count // len(self.symbols)
            count += 1
            if round_ % 10 == 5:
                self.publish(self.depth(symbol))
            elif round_ % 10 == 9:
                self.publish(self.trade(symbol))
            else:
                self.publish(self.ticker(symbol))
