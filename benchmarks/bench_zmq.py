"""ZeroMQ feed: raw pyzmq SUB + orjson decode vs the ``zmq`` connector end to end
(decode, validation, per-symbol sequencing, normalization, router to one subscriber).

Throughput: every variant consumes the same pre-built ticker frames from an XPUB socket on
127.0.0.1, published as fast as the publisher can; the figure is messages consumed per
second from the first to the last message, with unlimited high-water marks on both sides so
that nothing is dropped. Two raw references run in the same process and round: pyzmq +
orjson (the goal's reference), and pyzmq + orjson + one attrs ``PriceTick`` per message.

Latency: a publisher in a separate process sends tickers paced at 10,000 msg/s, each
stamped with ``time.time_ns()`` (one system-wide clock) just before it is sent; the receiver
takes the clock where the update arrives (raw: after decode; ours: in the router
subscriber). The first ``WARMUP`` messages are not counted.

``python -m benchmarks.bench_zmq --serve-paced N RATE`` is that publisher process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import zmq
from stockfish_core.models import PriceTick
from stockfish_core.router import DataFeedRouter

from benchmarks import common

SYMBOLS = [f"SYM{i}" for i in range(10)]
PACED_RATE = 10_000.0
WARMUP = 500
ROOT = Path(__file__).resolve().parent.parent


def frames(n: int) -> list[list[bytes]]:
    seq = dict.fromkeys(SYMBOLS, 0)
    out = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        seq[symbol] += 1
        body = orjson.dumps({"type": "ticker", "symbol": symbol, "sequence": seq[symbol],
                             "timestamp": 1_768_818_645_123 + i,
                             "data": {"bid": 100.0 + i % 7, "ask": 100.5 + i % 7,
                                      "last": 100.2, "bid_size": 3, "ask_size": 4,
                                      "volume": 1000 + i}})
        out.append([symbol.encode(), body])
    return out


class Publisher:
    """An XPUB on an ephemeral loopback port that can wait for its subscriber."""

    def __init__(self) -> None:
        self.context: Any = zmq.Context.instance()
        self.sock = self.context.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    def wait_subscriber(self, timeout: float = 5.0) -> None:
        if not self.sock.poll(timeout * 1000):
            raise RuntimeError("no subscriber joined")
        self.sock.recv()

    def send_all(self, batch: list[list[bytes]]) -> None:
        send = self.sock.send_multipart
        for parts in batch:
            send(parts)

    def close(self) -> None:
        self.sock.close(linger=0)


# ---------------------------------------------------------------------- throughput
def _raw_consumer(build: bool) -> Callable[[bytes], object]:
    loads = orjson.loads
    if not build:
        return loads

    def decode_and_build(body: bytes) -> object:
        msg = loads(body)
        d = msg["data"]
        return PriceTick(msg["symbol"], d["bid"], d["ask"], d["last"], d["bid_size"],
                         d["ask_size"], None, d["volume"], msg["timestamp"] * 1_000_000)

    return decode_and_build


def run_raw(batch: list[list[bytes]], build: bool = False) -> float:
    pub = Publisher()
    sub = pub.context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub.endpoint)
    pub.wait_subscriber()
    n = len(batch)
    result: list[float] = []
    handle = _raw_consumer(build)

    def consume() -> None:
        recv = sub.recv_multipart
        count = 0
        start = 0.0
        while count < n:
            if not sub.poll(5000):
                break
            parts = recv()
            handle(parts[-1])
            count += 1
            if count == 1:
                start = time.perf_counter()
        result.append((count - 1) / (time.perf_counter() - start) if count == n else 0.0)

    thread = threading.Thread(target=consume)
    thread.start()
    pub.send_all(batch)
    thread.join(30)
    sub.close(linger=0)
    pub.close()
    return result[0] if result else 0.0


def run_ours(batch: list[list[bytes]]) -> float:
    from stockfish_zmq.connector import ZMQConnector

    pub = Publisher()
    router = DataFeedRouter()
    n = len(batch)
    done = threading.Event()
    state = {"count": 0, "start": 0.0, "end": 0.0}

    def on_update(_: object) -> None:
        state["count"] += 1
        if state["count"] == 1:
            state["start"] = time.perf_counter()
        elif state["count"] == n:
            state["end"] = time.perf_counter()
            done.set()

    router.subscribe(on_update)
    connector = ZMQConnector(router, endpoints=(pub.endpoint,), high_water_mark=0)
    assert connector.connect()
    connector.subscribe_price("*")
    pub.wait_subscriber()
    pub.send_all(batch)
    ok = done.wait(30)
    stats = connector.get_stats()
    connector.close(timeout=3)
    pub.close()
    if not ok:
        raise RuntimeError(f"only {state['count']} of {n} delivered: "
                           f"{stats['data_errors_by_kind']}")
    return (n - 1) / (state["end"] - state["start"])


# ---------------------------------------------------------------------- paced latency
def serve_paced(count: int, rate: float) -> None:
    """The paced publisher process: print the endpoint, wait for a subscriber, send
    ``count`` tickers at ``rate``/s, each stamped with ``time.time_ns()`` just before it is sent."""
    pub = Publisher()
    print(pub.endpoint, flush=True)
    # XPUB hands us the subscription once the subscriber's pipe is attached: what is
    # sent from here on reaches it.
    pub.wait_subscriber(10.0)
    send = pub.sock.send_multipart
    dumps = orjson.dumps
    clock = time.perf_counter
    stamp = time.time_ns
    seq = dict.fromkeys(SYMBOLS, 0)
    pause = threading.Event()  # never set: its wait is the pacing pause
    start = clock()
    for i in range(count):
        # Sleep (not spin) until the message is due: a spinning publisher would take a core
        # from the receiver being measured. Late messages go at once, catching up.
        delay = start + i / rate - clock()
        if delay > 0.00005:
            pause.wait(delay)
        symbol = SYMBOLS[i % len(SYMBOLS)]
        seq[symbol] += 1
        send([symbol.encode(), dumps({
            "type": "ticker", "symbol": symbol, "sequence": seq[symbol], "timestamp": stamp(),
            "data": {"bid": 100.0, "ask": 100.5, "last": 100.2, "bid_size": 3.0,
                     "ask_size": 4.0, "volume": 1000.0 + i}})])
    # Closing with a linger and terminating the context waits (bounded) until the last
    # frames have left.
    pub.sock.close(linger=5000)
    pub.context.term()


def _start_paced(count: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_zmq", "--serve-paced",
                             str(count), str(PACED_RATE)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    endpoint = proc.stdout.readline().strip()
    if not endpoint.startswith("tcp://"):
        proc.kill()
        raise RuntimeError(f"the paced publisher did not start: {endpoint!r}")
    return proc, endpoint


def latency_raw(count: int) -> list[float]:
    """Microseconds from send to decoded, raw pyzmq + orjson."""
    proc, endpoint = _start_paced(count)
    sub: Any = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    out: list[float] = []
    try:
        loads = orjson.loads
        recv = sub.recv_multipart
        stamp = time.time_ns
        deadline = time.monotonic() + count / PACED_RATE + 15
        while len(out) < count and time.monotonic() < deadline:
            if not sub.poll(1000):
                continue
            msg = loads(recv()[-1])
            out.append((stamp() - msg["timestamp"]) / 1000)
    finally:
        sub.close(linger=0)
        proc.wait(20)
    return out[WARMUP:]


def latency_ours(count: int) -> list[float]:
    """Microseconds from send to the router subscriber, through the connector."""
    from stockfish_zmq.connector import ZMQConnector

    proc, endpoint = _start_paced(count)
    router = DataFeedRouter()
    out: list[float] = []
    done = threading.Event()
    stamp = time.time_ns

    def on_update(update: Any) -> None:
        out.append((stamp() - update.ts_event) / 1000)
        if len(out) == count:
            done.set()

    router.subscribe(on_update)
    connector = ZMQConnector(router, endpoints=(endpoint,), high_water_mark=0)
    try:
        assert connector.connect()
        connector.subscribe_price("*")
        done.wait(count / PACED_RATE + 15)
    finally:
        connector.close(timeout=3)
        proc.wait(20)
    return out[WARMUP:]




def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-paced":
        serve_paced(int(sys.argv[2]), float(sys.argv[3]))
        return
    args = common.parse_args(__doc__ or "")
    quick = args.mode == "quick"
    n, repeats = (20_000, 3) if quick else (200_000, 5)
    paced = 10_000 if quick else 50_000
    batch = frames(n)
    raw, raw_attrs, ours = [], [], []
    for _ in range(repeats):  # interleaved so that machine noise hits all alike
        raw.append(common.clean(run_raw, batch))
        raw_attrs.append(common.clean(run_raw, batch, True))
        ours.append(common.clean(run_ours, batch))
    raw_lat = common.clean(latency_raw, paced + WARMUP)
    our_lat = common.clean(latency_ours, paced + WARMUP)
    if len(our_lat) < paced or len(raw_lat) < paced:
        raise RuntimeError(f"paced run lost messages: ours {len(our_lat)}, raw {len(raw_lat)} "
                           f"of {paced}")
    p = common.percentile
    metrics = [
        common.metric("feed throughput (ticker frames)", "msg/s", ours, raw,
                      goal=">= 0.7x raw pyzmq + orjson", goal_ratio=0.7),
        common.metric("feed throughput vs raw + one attrs object", "msg/s", ours, raw_attrs,
                      goal=">= 0.7x raw pyzmq + orjson + PriceTick", goal_ratio=0.7),
        common.metric("latency p50 @10k msg/s", "us", [p(our_lat, 0.5)], [p(raw_lat, 0.5)],
                      higher_is_better=False, goal="report", samples=our_lat),
        common.metric("latency p99 @10k msg/s", "us", [p(our_lat, 0.99)], [p(raw_lat, 0.99)],
                      higher_is_better=False, goal="<= 250 us", goal_abs=250.0),
    ]
    common.write("zmq", args, metrics,
                 notes=f"{n:,} ticker frames over 10 symbols per run, {repeats} runs each "
                       "(raw, raw + attrs, ours interleaved); ours = decode + validate + "
                       "sequence + router to one subscriber. Latency: "
                       f"{paced:,} tickers paced at {PACED_RATE:,.0f}/s from a separate "
                       f"process, first {WARMUP} not counted")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
