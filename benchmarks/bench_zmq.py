"""ZeroMQ feed throughput: raw pyzmq SUB + orjson decode vs the ``zmq`` connector end to end
(decode, validation, per-symbol sequencing, router delivery to one subscriber).

Both consume the same pre-built ticker frames from a PUB socket on 127.0.0.1, published as
fast as the publisher can; the figure is messages consumed per second from the first to the
last message. Unlimited high-water marks on both sides so that nothing is dropped.
"""

from __future__ import annotations

import threading
import time

import orjson
import zmq
from stockfish_core.router import DataFeedRouter

from benchmarks import common

SYMBOLS = [f"SYM{i}" for i in range(10)]


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
    def __init__(self) -> None:
        self.context = zmq.Context.instance()
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


def run_raw(batch: list[list[bytes]]) -> float:
    pub = Publisher()
    sub = pub.context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub.endpoint)
    pub.wait_subscriber()
    n = len(batch)
    result: list[float] = []

    def consume() -> None:
        loads = orjson.loads
        recv = sub.recv_multipart
        count = 0
        start = 0.0
        while count < n:
            if not sub.poll(5000):
                break
            parts = recv()
            loads(parts[-1])
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


def main() -> None:
    args = common.parse_args(__doc__ or "")
    n, repeats = (20_000, 3) if args.mode == "quick" else (200_000, 5)
    batch = frames(n)
    raw, ours = [], []
    for _ in range(repeats):  # interleaved so that machine noise hits both alike
        raw.append(run_raw(batch))
        ours.append(run_ours(batch))
    metrics = [common.metric("feed throughput (ticker frames)", "msg/s", ours, raw,
                             goal=">= 0.7x raw pyzmq + orjson", goal_ratio=0.7)]
    common.write("zmq", args, metrics,
                 notes=f"{n:,} ticker frames over 10 symbols per run, {repeats} runs each; "
                       "ours = decode + validate + sequence + router to one subscriber")


if __name__ == "__main__":
    main()
