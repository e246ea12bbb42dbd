"""NATS scale-out: the gateway's publishing path and the ``nats`` connector against raw
nats-py on the same nats-server (127.0.0.1), in the same run.

- Fan-out throughput to 1 and 10 consumer processes: the publisher sends M price ticks as
  fast as it can. Raw: nats-py publishing pre-encoded bytes (the same bytes our codec
  makes), consumers counting messages. Ours: the gateway's hot path (``encode_update`` +
  ``Bus.publish_soon``), consumers the ``nats`` connector's (decode, normalize, router to a
  subscriber). Figure: messages per second per consumer (median over consumers), first to
  last message.
- Added latency p50/p99 at a paced 5,000 msg/s to one consumer: publisher stamp (one
  system-wide clock) to the consumer's end of path (raw: received; ours: delivered by the
  router).
- Order round trip: ``send_order`` to SUBMITTED seen by the caller, through the gateway
  (``nats`` connector, nats-server, a gateway process with its journal file, sim venue)
  against the sim connector in process.
- Takeover: the holding gateway process SIGKILLed -> the first order acknowledged through
  the standby; goal <= 2 x the lease TTL.

``python -m benchmarks.bench_nats --consume MODE URL SUBJECT COUNT LATENCY`` is a consumer
process.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import yaml
from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.router import DataFeedRouter

from benchmarks import common

SUBJECT = "sf.md.bench.simv.price_tick.SPY"
LEASE_TTL = 2.0
ROOT = Path(__file__).resolve().parent.parent


def update(i: int) -> MarketUpdate:
    tick = PriceTick("SPY", 100.0 + i % 7, 100.5 + i % 7, 100.2, 300.0, 400.0, 5.0, 1e6 + i)
    return MarketUpdate(DataType.PRICE_TICK, "SPY", "simv", tick, i)


# ============================================================================ consumers
def consume(mode: str, url: str, subject: str, count: int, latency: bool) -> None:
    """A consumer process: prints "ready", then one JSON line with its figures. Raw:
    nats-py + orjson decode. Ours: the ``nats`` connector's market-data handler (decode,
    normalize, count, router to one subscriber). With ``latency`` each message's
    publisher stamp is read too (ours pays one more parse for it)."""
    from stockfish_nats.bus import Bus
    from stockfish_nats.remote import NatsConnector
    from stockfish_nats.settings import BusSettings

    stamps: list[int] = []
    first = [0, 0]  # first receive time, messages
    done = threading.Event()
    bus = Bus(BusSettings(servers=(url,)), f"consumer-{os.getpid()}")
    bus.connect()

    def arrived() -> None:
        if not first[0]:
            first[0] = time.perf_counter_ns()
        first[1] += 1
        if first[1] >= count:
            done.set()

    if mode == "raw":
        def callback(msg: Any) -> None:
            message = orjson.loads(msg.data)
            if latency:
                stamps.append(time.time_ns() - message["ts_pub"])
            arrived()
    else:
        router = DataFeedRouter()
        connector = NatsConnector(router=router, name="remote")
        published = [0]

        def delivered(_update: MarketUpdate) -> None:
            if latency:
                stamps.append(time.time_ns() - published[0])
            arrived()

        router.subscribe(delivered)

        def callback(msg: Any) -> None:
            if latency:
                published[0] = orjson.loads(msg.data)["ts_pub"]
            connector._on_market(msg)  # the hot path under test

    bus.subscribe(subject, callback)
    print("ready", flush=True)
    done.wait(120)
    last = time.perf_counter_ns()
    print(json.dumps({"count": first[1], "seconds": (last - first[0]) / 1e9,
                      "latency_us": [s / 1000 for s in stamps]}), flush=True)
    bus.close()


def start_consumers(mode: str, url: str, n: int, count: int,
                    latency: bool = False) -> list[subprocess.Popen[str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench_nats", "--consume",
                               mode, url, SUBJECT, str(count), str(int(latency))], cwd=ROOT,
                              text=True,
                              stdout=subprocess.PIPE) for _ in range(n)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    return procs


def collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        try:
            stdout, _ = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


# ============================================================================ publishers
def publish_raw(url: str, payloads: list[bytes], rate: float | None) -> None:
    import nats

    async def run() -> None:
        nc = await nats.connect(url)
        interval = 1.0 / rate if rate else 0.0
        start = time.perf_counter()
        for i, encoded in enumerate(payloads):
            data = orjson.dumps({**orjson.loads(encoded), "ts_pub": time.time_ns()}) \
                if rate else encoded
            await nc.publish(SUBJECT, data)
            if rate:
                delay = start + (i + 1) * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        await nc.flush()
        await nc.close()

    asyncio.run(run())


def publish_ours(url: str, updates: list[MarketUpdate], rate: float | None) -> None:
    from stockfish_nats import codec
    from stockfish_nats.bus import Bus
    from stockfish_nats.settings import BusSettings

    bus = Bus(BusSettings(servers=(url,)), "bench-publisher", max_queued=10_000_000)
    bus.connect()
    interval = 1.0 / rate if rate else 0.0
    start = time.perf_counter()
    pause = threading.Event()
    for i, u in enumerate(updates):
        bus.publish_soon(SUBJECT, codec.encode_update(u))  # the gateway's hot path
        if rate:
            delay = start + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                pause.wait(delay)
    bus.close(30)


def fan_out(url: str, consumers: int, count: int, mode: str) -> list[dict[str, Any]]:
    from stockfish_nats import codec

    updates = [update(i) for i in range(count)]
    procs = start_consumers(mode, url, consumers, count)
    if mode == "raw":
        publish_raw(url, [codec.encode_update(u) for u in updates], None)
    else:
        publish_ours(url, updates, None)
    return collect(procs)


def paced(url: str, count: int, rate: float, mode: str) -> list[float]:
    from stockfish_nats import codec

    updates = [update(i) for i in range(count)]
    procs = start_consumers(mode, url, 1, count, latency=True)
    if mode == "raw":
        publish_raw(url, [codec.encode_update(u) for u in updates], rate)
    else:
        publish_ours(url, updates, rate)
    result = collect(procs)[0]
    return [float(x) for x in result["latency_us"][min(500, count // 10):]]


# ============================================================================ orders
def order_round_trips(url: str, n: int) -> tuple[list[float], list[float]]:
    from stockfish_core.manager import ExchangeManager
    from stockfish_core.sim import SimConnector
    from stockfish_core.testing.waiting import wait_until
    def measure(send: Any, listen: Any) -> list[float]:
        acked: dict[str, threading.Event] = {}

        def on_event(event: Any) -> None:
            if event.status is OrderStatus.SUBMITTED and event.client_order_id in acked:
                acked[event.client_order_id].set()

        listen(on_event)
        out = []
        for _ in range(n):
            order = Order("SPY", "BUY", 1, "LIMIT", price=1.0)
            seen = acked[order.client_order_id] = threading.Event()
            start = time.perf_counter()
            send(order)
            assert seen.wait(10) or order.status is OrderStatus.SUBMITTED
            out.append((time.perf_counter() - start) * 1e6)
        return out

    local = SimConnector(name="local", venue="bench-local", tick_interval=1.0)
    local.connect()
    in_process = measure(local.send_order, local.add_order_listener)
    local.close()
    from stockfish_nats.testing.probe import GatewayProbe
    from stockfish_nats.testing.processes import gateway_process

    with tempfile.TemporaryDirectory() as tmp:  # the gateway in a process of its own
        config = Path(tmp) / "gateway.yaml"
        config.write_text(yaml.safe_dump({
            "connectors": {"simv": {"type": "sim", "venue": "bench-remote",
                                    "tick_interval": 1.0}},
            "manager": {"journal": str(Path(tmp) / "gateway.sqlite3")}}))
        gateway = gateway_process(str(config), [url], gateway="bench", instance="a",
                                  lease_ttl=LEASE_TTL)
        gateway.start()
        probe = GatewayProbe([url], "bench")
        try:
            assert wait_until(lambda: probe.session_state("a", "simv") == "holding", 15)
            sm = ExchangeManager.from_config({
                "connectors": {"remote": {"type": "nats", "servers": [url],
                                          "gateway": "bench", "connectors": ["simv"],
                                          "client_id": "bench"}},
                "manager": {"journal": "memory"}})
            sm.start_all(timeout=10)
            remote = measure(sm.send_order, sm.add_order_listener)
            sm.close()
        finally:
            probe.close()
            gateway.stop()
    return remote, in_process


# ============================================================================ takeover
def takeovers(url: str, rounds: int) -> list[float]:
    from stockfish_core.errors import NotConnectedError, OrderRejectedError
    from stockfish_core.manager import ExchangeManager
    from stockfish_core.testing.waiting import wait_until
    from stockfish_nats.testing.probe import GatewayProbe
    from stockfish_nats.testing.processes import gateway_process, venue_process

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        venue = venue_process()
        address = venue.start()["address"]
        probe = GatewayProbe([url], "tk")
        gateways = []

        def config(instance: str) -> str:
            path = Path(tmp) / f"{instance}.yaml"
            path.write_text(yaml.safe_dump({
                "connectors": {"simv": {"type": "sim", "address": address,
                                        "heartbeat_interval": 1.0}},
                "manager": {"journal": str(Path(tmp) / f"{instance}.sqlite3")}}))
            return str(path)

        try:
            names = [f"g{i}" for i in range(rounds + 1)]
            for name in names[:2]:
                gw = gateway_process(config(name), [url], gateway="tk", instance=name,
                                     lease_ttl=LEASE_TTL)
                gw.start()
                gateways.append(gw)
                assert wait_until(lambda n=name: probe.session_state(n, "simv") is not None,
                                  15)
            sm = ExchangeManager.from_config({
                "connectors": {"remote": {"type": "nats", "servers": [url], "gateway": "tk",
                                          "connectors": ["simv"], "client_id": "bench-tk",
                                          "heartbeat_interval": 0.25,
                                          "reconnect_initial_delay": 0.05,
                                          "reconnect_max_delay": 0.1}},
                "manager": {"journal": "memory"}})
            sm.start_all(timeout=15)
            for r in range(rounds):
                holder = next(g for g, n in zip(gateways, names, strict=False)
                              if g.running and probe.session_state(n, "simv") == "holding")
                holder.kill()
                killed = time.monotonic()
                pause = threading.Event()
                while time.monotonic() - killed < 30:
                    try:
                        oid = sm.send_order(Order("SPY", "BUY", 1))
                    except (NotConnectedError, OrderRejectedError):
                        pause.wait(0.02)
                        continue
                    if sm.get_order(oid).status is not OrderStatus.REJECTED:
                        break
                out.append(time.monotonic() - killed)
                if r + 2 < len(names):
                    gw = gateway_process(config(names[r + 2]), [url], gateway="tk",
                                         instance=names[r + 2], lease_ttl=LEASE_TTL)
                    gw.start()
                    gateways.append(gw)
            sm.close()
        finally:
            probe.close()
            for gw in gateways:
                gw.kill()
            venue.kill()
    return out


def main() -> None:
    args = common.parse_args(__doc__ or "")
    from stockfish_nats.testing import NatsServer

    quick = args.mode == "quick"
    count = 20_000 if quick else 100_000
    repeats = 1 if quick else 3
    metrics = []
    with NatsServer() as server:
        url = server.url
        for consumers in (1, 10):
            ours_runs, raw_runs = [], []
            for _ in range(repeats):
                for mode, runs in (("raw", raw_runs), ("ours", ours_runs)):
                    results = common.clean(fan_out, url, consumers, count, mode)
                    runs.append(statistics.median(r["count"] / r["seconds"] for r in results
                                                  if r["seconds"] > 0))
            metrics.append(common.metric(
                f"fan-out to {consumers} consumer process(es)", "msg/s", ours_runs, raw_runs))
        n_paced = 5_000 if quick else 20_000
        raw_lat = common.clean(paced, url, n_paced, 5_000.0, "raw")
        our_lat = common.clean(paced, url, n_paced, 5_000.0, "ours")
        p = common.percentile
        metrics.append(common.metric("latency p50 @5k msg/s", "us", [p(our_lat, 0.5)],
                                     [p(raw_lat, 0.5)], higher_is_better=False,
                                     samples=our_lat))
        metrics.append(common.metric("latency p99 @5k msg/s", "us", [p(our_lat, 0.99)],
                                     [p(raw_lat, 0.99)], higher_is_better=False))
        remote, local = order_round_trips(url, 100 if quick else 500)
        metrics.append(common.metric("order round trip p50 (remote vs in-process)", "us",
                                     [p(remote, 0.5)], [p(local, 0.5)],
                                     higher_is_better=False))
        metrics.append(common.metric("order round trip p99 (remote vs in-process)", "us",
                                     [p(remote, 0.99)], [p(local, 0.99)],
                                     higher_is_better=False, samples=remote))
        times = takeovers(url, 1 if quick else 3)
        metrics.append(common.metric(
            f"takeover: holder killed -> first order acknowledged (TTL {LEASE_TTL:g} s)", "s",
            times, higher_is_better=False, goal=f"<= {2 * LEASE_TTL:g} s (2 x TTL)",
            goal_abs=2 * LEASE_TTL))
    common.write("nats", args, metrics, notes=(
        "One nats-server on 127.0.0.1; consumers in processes of their own on the same two "
        "cores as the publisher and the server. Ours = the gateway's publishing path "
        "(encode_update + Bus.publish_soon) and the nats connector's receiving path "
        "(decode, normalize, router); raw = nats-py publishing the same bytes, and a "
        "nats-py consumer decoding them (orjson). "
        "Order round trip: send_order until SUBMITTED is seen by the caller."))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6] == "1")
    else:
        main()
