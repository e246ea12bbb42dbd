"""ZeroMQ latency at a paced rate, raw and ours interleaved segment by segment.

Three processes: one publisher and two receivers (raw pyzmq + the same decode, and the
``zmq`` connector), both connected to the publisher from the start. The publisher sends
segments of ``per_segment`` tickers at ``rate``, each segment to one receiver (topic
``raw`` or ``ours``), a pair of segments at a time in a seeded random order, with a short
pause between segments so that one receiver's tail seldom overlaps the other's start. A
receiver is idle (blocked in its poll) while the other's segment plays.

Why: on a shared machine the tail is set by other processes' time slices, which change
over seconds. Rounds of a few seconds each (raw, then ours) put raw and ours under
different loads, and a p99 per round moved 10x between rounds; short segments (the
benchmark plays 200 tickers, 20 ms) alternating put both under the same load, and one
long stall of the machine spans segments of both, so their ratio measures the code.

The first frames of a segment find the receiver, and the publisher's ZeroMQ thread, idle
since the other side's segment, which a continuous feed never does: the first took ~150 us
at the median against ~70 us from the tenth on. :func:`steady` leaves them out.

``python -m benchmarks.zmq_interleaved --serve SEGMENTS PER_SEGMENT RATE SEED`` is the
publisher, ``--raw ENDPOINT COUNT`` and ``--ours ENDPOINT COUNT`` the receivers; each
receiver prints one JSON line: its latencies (us, in arrival order) and the CPU time of its
process from its first counted message to its last.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import zmq

from benchmarks.bench_zmq import SYMBOLS, raw_decode

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("raw", "ours")
PAUSE_S = 0.001  # between segments: the previous receiver has (mostly) drained by then


# ---------------------------------------------------------------------- publisher
def serve(segments: int, per_segment: int, rate: float, seed: int) -> None:
    """Print the endpoint, wait until both receivers have subscribed and a ``go`` line
    comes on standard input, play the segments, then stay until standard input closes
    (bounded)."""
    context: Any = zmq.Context.instance()
    sock = context.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    print(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    go = threading.Event()
    done = threading.Event()

    def read_stdin() -> None:
        for _ in sys.stdin:
            go.set()
        go.set()
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    subscribed: set[bytes] = set()
    deadline = time.monotonic() + 30
    while len(subscribed) < len(SIDES) and time.monotonic() < deadline:
        if sock.poll(1000):
            event = sock.recv()
            if event[:1] == b"\x01":
                subscribed.add(event[1:])
    if len(subscribed) == len(SIDES) and go.wait(30) and not done.is_set():
        _play(sock.send_multipart, segments, per_segment, rate, random.Random(seed))
    done.wait(120)
    sock.close(linger=0)
    context.term()


def _play(send: Any, segments: int, per_segment: int, rate: float,
          rng: random.Random) -> None:
    dumps = orjson.dumps
    clock = time.perf_counter
    stamp = time.time_ns
    # Each receiver sees its own per-symbol sequences, without gaps.
    seq = {side: dict.fromkeys(SYMBOLS, 0) for side in SIDES}
    topics = {side: side.encode() for side in SIDES}
    pause = threading.Event()  # never set: its wait is the pacing pause
    for _ in range(segments):
        order = list(SIDES)
        rng.shuffle(order)
        for side in order:
            topic, numbers = topics[side], seq[side]
            start = clock()
            for i in range(per_segment):
                # Sleep (not spin) until the message is due; late messages go at once.
                delay = start + i / rate - clock()
                if delay > 0.00005:
                    pause.wait(delay)
                symbol = SYMBOLS[i % len(SYMBOLS)]
                numbers[symbol] += 1
                send([topic, dumps({
                    "type": "ticker", "symbol": symbol, "sequence": numbers[symbol],
                    "timestamp": stamp(),
                    "data": {"bid": 100.0, "ask": 100.5, "last": 100.2, "bid_size": 3.0,
                             "ask_size": 4.0, "volume": 1000.0 + i}})])
            pause.wait(PAUSE_S)


# ---------------------------------------------------------------------- receivers
def receive_raw(endpoint: str, count: int, skip: int) -> dict[str, Any]:
    """The raw reference: poll, ``recv_multipart``, :func:`raw_decode`."""
    sub: Any = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"raw")
    sub.connect(endpoint)
    print("ready", flush=True)
    recv = sub.recv_multipart
    stamp = time.time_ns
    out: list[float] = []
    seen = 0
    cpu0 = 0.0
    while seen < count and sub.poll(30_000):
        tick = raw_decode(recv()[-1])
        seen += 1
        if seen > skip:
            out.append((stamp() - tick.ts_event) / 1000)
        elif seen == skip:
            cpu0 = time.process_time()
    cpu = time.process_time() - cpu0
    sub.close(linger=0)
    return {"latencies": out, "cpu_s": cpu}


def receive_ours(endpoint: str, count: int, skip: int) -> dict[str, Any]:
    """The ``zmq`` connector; the clock is read in a router subscriber."""
    from stockfish_core.router import DataFeedRouter
    from stockfish_zmq.connector import ZMQConnector

    router = DataFeedRouter()
    stamp = time.time_ns
    out: list[float] = []
    seen = [0]
    cpu = [0.0, 0.0]
    done = threading.Event()

    def on_update(update: Any) -> None:
        seen[0] += 1
        n = seen[0]
        if n > skip:
            out.append((stamp() - update.ts_event) / 1000)
            if n == count:
                cpu[1] = time.process_time()
                done.set()
        elif n == skip:
            cpu[0] = time.process_time()

    router.subscribe(on_update)
    connector = ZMQConnector(router, endpoints=(endpoint,), topics=("ours",),
                             high_water_mark=0)
    try:
        if not connector.connect():
            raise RuntimeError(f"ours: {connector.get_stats()['last_error']}")
        connector.subscribe_price("*")
        print("ready", flush=True)
        done.wait(300)
    finally:
        connector.close(timeout=3)
    return {"latencies": out, "cpu_s": cpu[1] - cpu[0]}


def steady(latencies: list[float], per_segment: int, skip_each: int) -> list[float]:
    """``latencies`` (one side's, in arrival order) without the first ``skip_each`` of
    each segment."""
    return [x for i, x in enumerate(latencies) if i % per_segment >= skip_each]


# ---------------------------------------------------------------------- one run
def run(segments: int, per_segment: int, rate: float, warmup_segments: int,
        seed: int) -> dict[str, dict[str, Any]]:
    """Publisher and both receivers; per side its latencies (us, in arrival order, the
    first ``warmup_segments`` (at least one) of its segments left out) and its CPU time
    over them."""
    if not 1 <= warmup_segments < segments:
        raise ValueError("warmup_segments: at least one, and fewer than segments")
    count = segments * per_segment
    skip = warmup_segments * per_segment
    publisher = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.zmq_interleaved", "--serve", str(segments),
         str(per_segment), str(rate), str(seed)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    receivers: dict[str, subprocess.Popen[str]] = {}
    try:
        assert publisher.stdout is not None
        endpoint = publisher.stdout.readline().strip()
        if not endpoint.startswith("tcp://127.0.0.1:"):
            raise RuntimeError(f"the publisher did not start: {endpoint!r}")
        for side in SIDES:
            receivers[side] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.zmq_interleaved", f"--{side}", endpoint,
                 str(count), str(skip)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for side, proc in receivers.items():
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {side} receiver did not start")
        assert publisher.stdin is not None
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        timeout = count * 2 / rate + 60
        results = {}
        for side, proc in receivers.items():
            out, _ = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"{side} receiver failed ({proc.returncode})")
            results[side] = json.loads(out.strip().splitlines()[-1])
            if len(results[side]["latencies"]) != count - skip:
                raise RuntimeError(f"{side}: {len(results[side]['latencies'])} of "
                                   f"{count - skip} messages arrived")
        return results
    finally:
        for proc in receivers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        if publisher.stdin is not None:
            publisher.stdin.close()
        try:
            publisher.wait(20)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.wait(5)


def main() -> None:
    if sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        return
    receive = {"--raw": receive_raw, "--ours": receive_ours}[sys.argv[1]]
    result = receive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
