"""ZeroMQ feed: raw pyzmq SUB + the same decode vs the ``zmq`` connector end to end
(decode, validation, per-symbol sequencing, normalization, router to one subscriber).

The raw reference is what a user would otherwise write: ``recv_multipart``, ``orjson.loads``
and the same fields read into the same ``PriceTick`` (:func:`raw_decode`). Plain
pyzmq + orjson (no object) is measured beside it for context.

Every run has the publisher in a separate process (an XPUB on 127.0.0.1 with unlimited
high-water marks), so the receiving process's CPU time is the receiver's alone:

- throughput: the publisher sends pre-built ticker frames as fast as it can; the figure is
  messages consumed per second from the first to the last message, and the process CPU
  time over the same span divided by the messages (µs of CPU per wire message).
- latency: the publisher sends tickers paced at 10,000 msg/s, each stamped with
  ``time.time_ns()`` (one system-wide clock) just before it is sent; the receiver takes the
  clock where the update arrives (raw: after decode; ours: in the router subscriber). The
  first ``WARMUP`` messages are not counted. Raw and ours alternate, round by round, and
  each percentile is the median over the rounds.
- stages: extra rounds of ours with a clock read between the stages (wire -> decode ->
  sequence -> router -> subscriber); the probes themselves cost about 1 µs per message.
- garbage collector: with the subscriber keeping the last ``KEEP`` updates (so that
  collections happen at all: a pipeline that keeps nothing frees every object it makes and
  never triggers one), raw and ours with CPython's defaults, ours after ``gc.freeze()``
  at start-up, and ours with raised thresholds; every collection is timed.

``python -m benchmarks.bench_zmq --serve N RATE`` is the publisher process (RATE 0: as fast
as it can).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import zmq
from stockfish_core.models import MarketUpdate, PriceTick
from stockfish_core.router import DataFeedRouter

from benchmarks import common

SYMBOLS = [f"SYM{i}" for i in range(10)]
PACED_RATE = 10_000.0
WARMUP = 500
KEEP = 10_000  # updates the subscriber keeps in the garbage-collector rounds
ROOT = Path(__file__).resolve().parent.parent


def frames(n: int) -> list[list[bytes]]:
    """``n`` ticker frames (topic, JSON body) over ten symbols, epoch-ms timestamps."""
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


def raw_decode(body: bytes) -> PriceTick:
    """The raw reference's decode: the fields the connector reads, into the same object."""
    msg = orjson.loads(body)
    d = msg["data"]
    return PriceTick(msg["symbol"], d["bid"], d["ask"], d["last"], d["bid_size"],
                     d["ask_size"], d.get("last_size"), d["volume"], msg["timestamp"])


# ---------------------------------------------------------------------- publisher process
def serve(count: int, rate: float) -> None:
    """Print the endpoint, wait for a subscriber and a ``go`` line on standard input, send
    ``count`` tickers (``rate`` 0: the pre-built frames as fast as possible; else paced,
    each stamped with ``time.time_ns()`` just before it is sent), then stay until standard
    input closes (bounded)."""
    context: Any = zmq.Context.instance()
    sock = context.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    batch = frames(count) if rate == 0 else []
    print(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    # XPUB hands us the subscription once the subscriber's pipe is attached: what is sent
    # from here on reaches it.
    lines: list[str] = []
    go = threading.Event()
    done = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            lines.append(line)
            go.set()
        go.set()
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    if sock.poll(20_000) and go.wait(20) and lines:
        sock.recv()
        send = sock.send_multipart
        if rate == 0:
            for parts in batch:
                send(parts)
        else:
            _send_paced(send, count, rate)
    done.wait(120)
    sock.close(linger=0)
    context.term()


def _send_paced(send: Callable[[list[bytes]], Any], count: int, rate: float) -> None:
    dumps = orjson.dumps
    clock = time.perf_counter
    stamp = time.time_ns
    seq = dict.fromkeys(SYMBOLS, 0)
    topics = {s: s.encode() for s in SYMBOLS}
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
        send([topics[symbol], dumps({
            "type": "ticker", "symbol": symbol, "sequence": seq[symbol], "timestamp": stamp(),
            "data": {"bid": 100.0, "ask": 100.5, "last": 100.2, "bid_size": 3.0,
                     "ask_size": 4.0, "volume": 1000.0 + i}})])


class PublisherProcess:
    """The publisher in a child process (``--serve``), closed through its standard input."""

    def __init__(self, count: int, rate: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_zmq", "--serve", str(count), str(rate)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        if not self.endpoint.startswith("tcp://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"the publisher did not start: {self.endpoint!r}")

    def go(self) -> None:
        """The receiver is ready: start sending."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# ---------------------------------------------------------------------- one run
class Run:
    """What one receiver measured: rate, CPU per message, latency samples (µs)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.t0 = self.t1 = 0.0
        self.cpu0 = self.cpu1 = 0.0
        self.latencies: list[float] = []
        self.stages: list[tuple[int, ...]] = []
        self.gc_pauses: list[float] = []

    def first(self) -> None:
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def last(self) -> None:
        self.t1 = time.perf_counter()
        self.cpu1 = time.process_time()

    @property
    def rate(self) -> float:
        return (self.count - 1) / (self.t1 - self.t0)

    @property
    def cpu_us(self) -> float:
        return (self.cpu1 - self.cpu0) / (self.count - 1) * 1e6


class _GcClock:
    """Times every collection while installed (the pauses a receiver sees)."""

    def __init__(self, into: list[float]) -> None:
        self.into = into
        self.started = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter_ns()
        else:
            self.into.append((time.perf_counter_ns() - self.started) / 1000)

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _sub_socket(endpoint: str) -> Any:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    return sub


def raw_run(n: int, rate: float, decode: Callable[[bytes], Any] = raw_decode,
            keep: int = 0) -> Run:
    """The raw reference on this thread: poll, ``recv_multipart``, ``decode`` (and the
    last ``keep`` ticks kept, as a strategy keeping history would)."""
    pub = PublisherProcess(n, rate)
    sub = _sub_socket(pub.endpoint)
    run = Run(n)
    paced = rate > 0
    try:
        pub.go()
        recv = sub.recv_multipart
        stamp = time.time_ns
        out = run.latencies
        history: collections.deque[Any] = collections.deque(maxlen=keep or 1)
        with _GcClock(run.gc_pauses):
            while run.count < n and sub.poll(10_000):
                tick = decode(recv()[-1])
                if keep:
                    history.append(tick)
                run.count += 1
                if paced and run.count > WARMUP:
                    out.append((stamp() - tick.ts_event) / 1000)
                if run.count == 1 or (paced and run.count == WARMUP):
                    run.first()
        run.last()
    finally:
        sub.close(linger=0)
        pub.close()
    if run.count < n:
        raise RuntimeError(f"raw: {run.count} of {n} messages arrived")
    return run


class _StageProbe:
    """Clock reads between the connector's stages for ``stages`` rounds (benchmark only:
    wraps the decoder and the sequencer's delivery of a connector not yet started)."""

    def __init__(self, connector: Any) -> None:
        self.at: list[int] = [0, 0, 0]
        decoder = connector._decoder
        sequencer = connector._sequencer
        decode = decoder.decode
        deliver = sequencer.deliver
        at = self.at
        stamp = time.time_ns

        class Decoder:
            def decode(self, frame: bytes) -> MarketUpdate | None:
                at[0] = stamp()
                update = decode(frame)
                at[1] = stamp()
                return update

        def probe_deliver(update: MarketUpdate) -> None:
            at[2] = stamp()
            deliver(update)

        connector._decoder = Decoder()
        sequencer.deliver = probe_deliver


def ours_run(n: int, rate: float, *, stages: bool = False, keep: int = 0,
             **settings: Any) -> Run:
    """The connector on its poller thread; the clock is read in the router subscriber
    (which keeps the last ``keep`` updates, as a strategy keeping history would)."""
    from stockfish_zmq.connector import ZMQConnector

    pub = PublisherProcess(n, rate)
    router = DataFeedRouter()
    run = Run(n)
    paced = rate > 0
    done = threading.Event()
    stamp = time.time_ns
    out = run.latencies
    connector = ZMQConnector(router, endpoints=(pub.endpoint,), high_water_mark=0,
                             **settings)
    probe = _StageProbe(connector) if stages else None
    at = probe.at if probe is not None else []
    rows = run.stages
    history: collections.deque[Any] = collections.deque(maxlen=keep or 1)

    def on_update(update: Any) -> None:
        if keep:
            history.append(update)
        run.count += 1
        count = run.count
        if paced and count > WARMUP:
            now = stamp()
            out.append((now - update.ts_event) / 1000)
            if probe is not None:
                rows.append((update.ts_event, at[0], at[1], at[2], now))
        if count == 1 or (paced and count == WARMUP):
            run.first()
        elif count == n:
            run.last()
            done.set()

    router.subscribe(on_update)
    try:
        with _GcClock(run.gc_pauses):
            if not connector.connect():
                raise RuntimeError(f"ours: {connector.get_stats()['last_error']}")
            connector.subscribe_price("*")
            pub.go()
            done.wait(n / (rate or 20_000) + 30)
    finally:
        connector.close(timeout=3)
        pub.close()
    if run.count < n:
        raise RuntimeError(f"ours: {run.count} of {n} messages arrived: "
                           f"{connector.get_stats()['data_errors_by_kind']}")
    return run


def bare_run(n: int, rate: float) -> Run:
    return raw_run(n, rate, orjson_only)


class _Decoded:
    __slots__ = ("ts_event",)

    def __init__(self, ts_event: int) -> None:
        self.ts_event = ts_event


def orjson_only(body: bytes) -> _Decoded:
    """pyzmq + orjson and nothing else (context: the floor under any decode)."""
    return _Decoded(orjson.loads(body)["timestamp"])


# ---------------------------------------------------------------------- reporting
@contextlib.contextmanager
def _gc_defaults() -> Iterator[None]:
    gc.collect()
    yield


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _gc_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.collect()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


GC_VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "CPython defaults": _gc_defaults,
    "gc.freeze() after start-up": _gc_frozen,
    "gc thresholds (50000, 50, 100)": _gc_thresholds,
}


def _pcts(samples: list[float]) -> tuple[float, float, float]:
    p = common.percentile
    return p(samples, 0.5), p(samples, 0.99), p(samples, 0.999)


def stage_table(runs: list[Run]) -> dict[str, Any]:
    """p50 / p99 / p99.9 per stage over every stage round, µs."""
    names = ["wire (send -> frame read, incl. poll wake-up)", "decode",
             "sequence (filter + sequencer)", "router (deliver -> subscriber)",
             "total (send -> subscriber)"]
    cols: list[list[float]] = [[] for _ in names]
    for run in runs:
        for sent, d0, d1, seq, sub in run.stages:
            for i, (a, b) in enumerate(((sent, d0), (d0, d1), (d1, seq), (seq, sub),
                                        (sent, sub))):
                cols[i].append((b - a) / 1000)
    rows = [[name, *(f"{v:,.1f}" for v in _pcts(col))] for name, col in zip(names, cols,
                                                                            strict=True)]
    return {"title": f"zmq: latency by stage @{PACED_RATE:,.0f} msg/s (us, "
                     f"{len(cols[0]):,} messages)",
            "columns": ["stage", "p50", "p99", "p99.9"], "rows": rows}


def gc_table(raw: list[Run], variants: dict[str, list[Run]]) -> dict[str, Any]:
    def row(name: str, runs: list[Run]) -> list[str]:
        per_round = [_pcts(r.latencies) for r in runs]
        med = [common.median([x[i] for x in per_round]) for i in range(3)]
        pauses = [p for r in runs for p in r.gc_pauses]
        cpu = common.median([r.cpu_us for r in runs])
        return [name, *(f"{v:,.0f}" for v in med), f"{cpu:.1f}",
                f"{len(pauses) / len(runs):,.0f}",
                f"{max(pauses):,.0f}" if pauses else "-"]

    rows = [row("raw pyzmq + same decode, CPython defaults", raw)]
    rows += [row(f"ours, {name}", runs) for name, runs in variants.items()]
    return {"title": f"zmq: latency @{PACED_RATE:,.0f} msg/s by garbage-collector setting, "
                     f"the subscriber keeping the last {KEEP:,} updates (median over "
                     "rounds)",
            "columns": ["receiver", "p50 us", "p99 us", "p99.9 us", "CPU us/msg",
                        "collections per round", "longest collection us"],
            "rows": rows}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), float(sys.argv[3]))
        return
    args = common.parse_args(__doc__ or "")
    quick = args.mode == "quick"
    n, repeats = (20_000, 3) if quick else (200_000, 5)
    paced, rounds = (5_000, 2) if quick else (30_000, 5)
    gc_rounds = 1 if quick else 3
    bare, raw, ours = [], [], []
    for _ in range(repeats):  # interleaved so that machine noise hits all alike
        bare.append(common.clean(bare_run, n, 0.0))
        raw.append(common.clean(raw_run, n, 0.0))
        ours.append(common.clean(ours_run, n, 0.0))
    count = paced + WARMUP
    raw_lat, our_lat, staged, raw_gc = [], [], [], []
    variants: dict[str, list[Run]] = {name: [] for name in GC_VARIANTS}
    for i in range(rounds):
        raw_lat.append(common.clean(raw_run, count, PACED_RATE))
        our_lat.append(common.clean(ours_run, count, PACED_RATE))
        if i < gc_rounds:
            staged.append(common.clean(ours_run, count, PACED_RATE, stages=True))
            with _gc_defaults():
                raw_gc.append(raw_run(count, PACED_RATE, keep=KEEP))
            for name, setting in GC_VARIANTS.items():
                with setting():
                    variants[name].append(ours_run(count, PACED_RATE, keep=KEEP))
    pct = {name: [_pcts(r.latencies) for r in runs]
           for name, runs in (("raw", raw_lat), ("ours", our_lat))}
    metrics = [
        common.metric("feed throughput (ticker frames)", "msg/s", [r.rate for r in ours],
                      [r.rate for r in raw], goal=">= 0.9x raw pyzmq + same decode",
                      goal_ratio=0.9),
        common.metric("CPU per wire message, at full rate", "us/msg",
                      [r.cpu_us for r in ours], [r.cpu_us for r in raw],
                      higher_is_better=False, goal="report"),
        common.metric("feed throughput vs bare pyzmq + orjson", "msg/s",
                      [r.rate for r in ours], [r.rate for r in bare],
                      goal="(context: no object built)"),
    ]
    for i, (label, goal) in enumerate((("p50", {"goal": "report"}),
                                       ("p99", {"goal": "<= 250 us and <= 1.5x raw",
                                                "goal_abs": 250.0, "goal_ratio": 1.5}),
                                       ("p99.9", {"goal": "report"}))):
        metrics.append(common.metric(
            f"latency {label} @{PACED_RATE / 1000:g}k msg/s", "us",
            [x[i] for x in pct["ours"]], [x[i] for x in pct["raw"]],
            higher_is_better=False,
            samples=[s for r in our_lat for s in r.latencies] if label == "p50" else None,
            **goal))
    metrics.append(common.metric(
        f"CPU per wire message @{PACED_RATE / 1000:g}k msg/s", "us/msg",
        [r.cpu_us for r in our_lat], [r.cpu_us for r in raw_lat], higher_is_better=False,
        goal="report"))
    tables = [stage_table(staged), gc_table(raw_gc, variants)]
    common.write("zmq", args, metrics, tables=tables,
                 notes=f"{n:,} ticker frames over 10 symbols per throughput run, {repeats} "
                       "runs each (bare, raw, ours interleaved); raw = pyzmq recv_multipart "
                       "+ orjson + the same fields into the same PriceTick (what a user "
                       "would write); ours = decode + validate + sequence + router to one "
                       f"subscriber. Latency: {rounds} rounds of {paced:,} tickers paced at "
                       f"{PACED_RATE:,.0f}/s (raw and ours alternating; the first {WARMUP} "
                       "of each not counted); each percentile is the median over the "
                       "rounds. The publisher is always a separate process; CPU is the "
                       "receiving process's (Python + ZeroMQ's I/O thread) per message")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
