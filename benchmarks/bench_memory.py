"""Resident memory with every installed plugin loaded and 100 symbols subscribed.

Every simulated venue offered through the ``stockfish_simulated_venues`` hook is started (in
this process, as the demo does) and a connector of each type connects to it; 100 symbols are
subscribed across them (any the venue lists, topped up on ``sim``) and data streams for a
while. The raw baseline is a process that imports the same third-party libraries and nothing
of ours. Goal: at most 60 MB RSS.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import threading
from typing import Any

from benchmarks import common

RAW_LIBS = ("attrs", "cattrs", "pluggy", "yaml", "orjson", "zmq", "quickfix", "ib_insync")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 1e6


def raw_process() -> float:
    libs = [m for m in RAW_LIBS if importlib.util.find_spec(m) is not None]
    code = ("import " + ", ".join(libs) + "\nfrom benchmarks.bench_memory import rss_mb\n"
            "print(rss_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def ours_process(seconds: float) -> dict[str, Any]:
    code = f"from benchmarks.bench_memory import run_ours; run_ours({seconds})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(seconds: float) -> None:
    from stockfish_core import plugins
    from stockfish_core.router import DataFeedRouter

    plugins.load_plugins()
    offered: dict[str, Any] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(
        register=offered.setdefault)
    router = DataFeedRouter()
    received = [0]
    done = threading.Event()

    def count(_: Any) -> None:
        received[0] += 1

    router.subscribe(count)
    venues, connectors = [], []
    for name, factory in sorted(offered.items()):
        venue = factory()
        entry = dict(venue.start())
        venues.append(venue)
        type_name = entry.pop("type")
        ctype = plugins.get_connector_type(type_name)
        settings = ctype.settings_class(**entry)
        connector = plugins.create_connector(type_name, settings, name=name, router=router)
        if connector.connect():
            connectors.append(connector)
    subscribed = 0
    for connector in connectors:
        for symbol in getattr(connector, "known_symbols", lambda: [])()[:10]:
            try:
                connector.subscribe_price(symbol)
                subscribed += 1
            except Exception:  # a venue that does not list it: skip
                pass
    sim = next((c for c in connectors if c.connector_type == "sim"), None)
    if sim is not None:
        i = 0
        while subscribed < 100:
            sim.subscribe_price(f"SYM{i:03d}")
            subscribed += 1
            i += 1
    samples = []
    for _ in range(max(1, int(seconds * 4))):
        done.wait(0.25)
        gc.collect()
        samples.append(rss_mb())
    for connector in connectors:
        connector.close(timeout=5)
    for venue in venues:
        venue.stop()
    print(json.dumps({"rss_mb": samples, "subscribed": subscribed, "updates": received[0],
                      "connectors": [c.connector_type for c in connectors]}))


def main() -> None:
    args = common.parse_args(__doc__ or "")
    repeats = 2 if args.mode == "quick" else 5
    seconds = 2.0 if args.mode == "quick" else 10.0
    raws = [raw_process() for _ in range(repeats)]
    results = [ours_process(seconds) for _ in range(repeats)]
    final = [r["rss_mb"][-1] for r in results]
    growth = [r["rss_mb"][-1] - r["rss_mb"][len(r["rss_mb"]) // 2] for r in results]
    info = results[-1]
    common.write("memory", args, [
        common.metric("RSS, all plugins + 100 symbols streaming", "MB", final, raws,
                      higher_is_better=False, goal="<= 60 MB", goal_abs=60.0),
        common.metric("RSS growth over the second half of the run", "MB", growth,
                      higher_is_better=False, goal="(context: flat)"),
    ], notes=f"connectors: {', '.join(info['connectors'])}; {info['subscribed']} symbols; "
             f"{info['updates']} updates in the last run; raw = the same third-party "
             f"libraries imported in a bare process")


if __name__ == "__main__":
    main()
