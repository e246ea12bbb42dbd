"""Resident memory of a process holding connectors with 100 symbols streaming.

The simulated venues run in a separate process (test equipment, not what a user runs:
they used to be counted as ours); the measured process holds the connectors, the router
and one subscriber, and subscribes each connector to the symbols its venue lists, topped
up to 100 on ``sim`` (whose paper venue is part of the connector). Two configurations:
every installed connector but FIX (quickfix is then never imported), and every one.

The raw baseline is a bare process importing the third-party packages the measured
process had loaded at the end of its run (read from ``sys.modules``) and nothing of ours.
Goals: at most 60 MB without FIX; at most 1.1x the bare libraries with it.

The measured process reports its RSS after each step (third-party libraries imported, our
packages and plugin discovery, connectors connected, streaming), and a separate traced run
(tracemalloc inflates RSS) lists what was allocated after the third-party imports and is
still held at the end, by package. Our packages are byte-compiled first, as pip does.
"""

from __future__ import annotations

import collections
import gc
import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from benchmarks import common

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = 100
#: What each connector type imports from outside the standard library (imported first in
#: the measured process, so that the step table shows the libraries apart from ours).
LIBRARIES = {"core": ("attrs", "pluggy", "orjson"), "zmq": ("zmq",),
             "ibkr": ("ib_insync",), "fix": ("quickfix",), "rest": (), "sim": ()}
CONFIGS = {"without FIX": ("ibkr", "rest", "sim", "zmq"),
           "with FIX": ("fix", "ibkr", "rest", "sim", "zmq")}


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 1e6


# ---------------------------------------------------------------------- venue process
def serve_venues() -> None:
    """Start every simulated venue but ``sim``'s; print one JSON line {name: {"entry",
    "symbols"}}; serve until standard input closes (bounded)."""
    from stockfish_core import plugins

    plugins.load_plugins()
    offered: dict[str, Any] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(register=offered.setdefault)
    venues, out = [], {}
    for name, factory in sorted(offered.items()):
        if name == "sim":
            continue
        venue = factory()
        entry = dict(venue.start())
        venues.append(venue)
        symbols = getattr(venue, "symbols", None)
        if symbols is None and getattr(venue, "tws", None) is not None:
            symbols = [i.symbol for i in venue.tws.instruments
                       if i.quotes and i.sec_type == "STK"]
        out[name] = {"entry": entry, "symbols": list(symbols or ())}
    print(json.dumps(out), flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(900)
    for venue in venues:
        venue.stop()


class VenueProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_memory",
                                      "--venues"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.close()
            raise RuntimeError(f"the venues did not start: {line!r}")
        self.venues: dict[str, Any] = json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# ---------------------------------------------------------------------- measured process
def third_party_packages() -> list[str]:
    """Top-level packages loaded from site-packages, ours excluded."""
    names = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        top = name.split(".")[0]
        if "site-packages" in path and not top.startswith(("stockfish", "_")):
            names.add(top)
    return sorted(names)


def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The measured process: connectors ``spec["types"]`` on the venues ``spec["venues"]``
    (plus ``sim``), ``SYMBOLS`` symbols, ``spec["seconds"]`` of streaming."""
    steps = [("interpreter", rss_mb())]
    types: list[str] = spec["types"]
    for lib in dict.fromkeys(lib for t in ("core", *types) for lib in LIBRARIES.get(t, ())):
        if importlib.util.find_spec(lib) is not None:
            __import__(lib)
    steps.append(("third-party libraries imported", rss_mb()))
    if spec.get("trace"):
        import tracemalloc

        tracemalloc.start(30)
    from stockfish_core import plugins
    from stockfish_core.router import DataFeedRouter

    plugins.load_plugins()
    steps.append(("stockfish_core + plugin discovery", rss_mb()))
    router = DataFeedRouter()
    received = [0]

    def count(_: Any) -> None:
        received[0] += 1

    router.subscribe(count)
    connectors: list[tuple[Any, list[str]]] = []
    for type_name in types:
        if type_name == "sim":
            continue
        venue = spec["venues"].get(type_name)
        if venue is None:
            continue
        entry = dict(venue["entry"])
        entry.pop("type", None)
        if type_name == "ibkr":
            entry["client_id"] = spec["client_id"]
        ctype = plugins.get_connector_type(type_name)
        connector = plugins.create_connector(type_name, ctype.settings_class(**entry),
                                             name=type_name, router=router)
        if not connector.connect():
            raise RuntimeError(f"{type_name}: {connector.get_stats()['last_error']}")
        connectors.append((connector, venue["symbols"]))
    sim = plugins.create_connector("sim", plugins.get_connector_type("sim").settings_class(),
                                   name="sim", router=router)
    if not sim.connect():
        raise RuntimeError("sim did not connect")
    steps.append(("connectors created and connected", rss_mb()))
    subscribed = 0
    for connector, symbols in connectors:
        for symbol in symbols[:10]:
            try:
                connector.subscribe_price(symbol)
            except Exception as exc:  # e.g. SAP on IBIS: it needs a contract spec
                print(f"{connector.name}: {symbol} not subscribed: {exc}", file=sys.stderr)
                continue
            subscribed += 1
    for i in range(SYMBOLS - subscribed):
        sim.subscribe_price(f"SYM{i:03d}")
    samples = []
    pause = threading.Event()  # never set: its wait is the sampling pause
    for _ in range(max(2, int(spec["seconds"] * 4))):
        pause.wait(0.25)
        gc.collect()
        samples.append(rss_mb())
    steps.append((f"{SYMBOLS} symbols streaming {spec['seconds']:g} s", samples[-1]))
    names = [c.connector_type for c, _ in connectors] + ["sim"]
    for connector, _ in connectors:
        connector.close(timeout=5)
    sim.close(timeout=5)
    return {"rss_mb": samples, "steps": steps, "updates": received[0], "connectors": names,
            "libraries": third_party_packages()}


def traced(spec: dict[str, Any]) -> dict[str, Any]:
    """``run_ours`` with tracemalloc started once the third-party libraries are imported:
    what stays allocated at the end, by the package whose code allocated it (a module's
    code objects count for the package that imported it)."""
    import tracemalloc

    result = run_ours({**spec, "trace": True})
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by_package: collections.Counter[str] = collections.Counter()
    for trace in snapshot.traces:
        by_package[_package(trace.traceback)] += trace.size
    result["traced_mb"] = {k: round(v / 1e6, 3) for k, v in by_package.most_common()}
    return result


def _package(traceback: Any) -> str:
    """The package of the innermost frame that is not import machinery."""
    for frame in reversed(traceback):  # most recent first
        name = frame.filename
        if name.startswith("<frozen"):
            continue
        if "site-packages/" in name:
            return name.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        if "/src/stockfish" in name:
            return name.split("/src/", 1)[1].split("/", 1)[0]
        if "/benchmarks/" in name:
            return "benchmark harness"
        if "/lib/python3" in name:
            return "stdlib " + name.split("/lib/python3", 1)[1].split("/", 2)[1] \
                .removesuffix(".py")
        return name
    return "import machinery"


def _child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", mode,
                          json.dumps(spec)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def raw_quickfix(spec: dict[str, Any]) -> dict[str, Any]:
    """Context for the FIX goal: the same packages imported plus a raw QuickFIX initiator
    (bench_fix's, same session settings, data dictionary loaded) logged on to the venue
    and subscribed to a book, for the same time."""
    for lib in spec["libraries"]:
        __import__(lib)
    from benchmarks.bench_fix import RawClient

    client = RawClient(spec["entry"])
    client.subscribe_book()
    pause = threading.Event()  # never set: its wait is the streaming time
    pause.wait(spec["seconds"])
    gc.collect()
    rss = rss_mb()
    client.close()
    return {"rss_mb": rss}


def raw_process(libs: list[str]) -> float:
    code = "".join(f"import {lib}\n" for lib in libs)
    code += "from benchmarks.bench_memory import rss_mb\nprint(rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] == "--venues":
        serve_venues()
        return
    modes = {"--ours": run_ours, "--traced": traced, "--raw-quickfix": raw_quickfix}
    if len(sys.argv) == 3 and sys.argv[1] in modes:
        print(json.dumps(modes[sys.argv[1]](json.loads(sys.argv[2]))))
        return
    args = common.parse_args(__doc__ or "")
    repeats = 2 if args.mode == "quick" else 5
    seconds = 2.0 if args.mode == "quick" else 10.0
    installed = {t for t in LIBRARIES if t in ("core", "rest", "sim")
                 or importlib.util.find_spec(f"stockfish_{t}") is not None}
    client_ids = iter(range(700, 10_000))
    venues = VenueProcess()
    metrics, tables, notes = [], [], []
    try:
        for label, types in CONFIGS.items():
            chosen = [t for t in types if t in installed]
            if label == "with FIX" and "fix" not in chosen:
                continue
            ours, raws, runs, raw_fix = [], [], [], []
            for _ in range(repeats):  # interleaved so that drift hits both alike
                spec = {"types": chosen, "venues": venues.venues, "seconds": seconds,
                        "client_id": next(client_ids)}
                run = _child("--ours", spec)
                runs.append(run)
                ours.append(run["rss_mb"][-1])
                raws.append(raw_process(run["libraries"]))
                if "fix" in chosen:
                    raw_fix.append(_child("--raw-quickfix", {
                        "libraries": run["libraries"], "seconds": seconds,
                        "entry": venues.venues["fix"]["entry"]})["rss_mb"])
            growth = [r["rss_mb"][-1] - r["rss_mb"][len(r["rss_mb"]) // 2] for r in runs]
            goal = {"goal": "<= 60 MB", "goal_abs": 60.0} if label == "without FIX" else \
                {"goal": "<= 1.1x the bare libraries", "goal_ratio": 1.1}
            metrics.append(common.metric(f"RSS {label}, {SYMBOLS} symbols streaming", "MB",
                                         ours, raws, higher_is_better=False, **goal))
            if raw_fix:
                metrics.append(common.metric(
                    "RSS with FIX vs a raw QuickFIX client", "MB", ours, raw_fix,
                    higher_is_better=False,
                    goal="(context: raw = the same packages + a QuickFIX initiator logged "
                         "on, data dictionary loaded, one book streaming)"))
            metrics.append(common.metric(f"RSS growth over the second half, {label}", "MB",
                                         growth, higher_is_better=False,
                                         goal="(context: flat)"))
            steps = [[name, f"{common.median([r['steps'][i][1] for r in runs]):.1f}"]
                     for i, (name, _) in enumerate(runs[0]["steps"])]
            steps.append(["bare process importing the same third-party packages",
                          f"{common.median(raws):.1f}"])
            if raw_fix:
                steps.append(["... plus a raw QuickFIX initiator logged on, one book",
                              f"{common.median(raw_fix):.1f}"])
            tables.append({"title": f"memory: RSS by step, {label} (MB, median)",
                           "columns": ["step", "RSS MB"], "rows": steps})
            notes.append(f"{label}: connectors {', '.join(runs[-1]['connectors'])}, "
                         f"{runs[-1]['updates']:,} updates in the last run; third-party "
                         f"packages loaded: {', '.join(runs[-1]['libraries'])}")
            spec = {"types": chosen, "venues": venues.venues, "seconds": seconds,
                    "client_id": next(client_ids)}
            trace = _child("--traced", spec)["traced_mb"]
            rows = [[name, f"{mb:.2f}"] for name, mb in list(trace.items())[:12]]
            rows.append(["total traced", f"{sum(trace.values()):.1f}"])
            tables.append({"title": f"memory: allocated after the third-party imports and "
                                    f"still held at the end, by package, {label} "
                                    "(tracemalloc, MB)", "columns": ["package", "MB"],
                           "rows": rows})
    finally:
        venues.close()
    common.write("memory", args, metrics, tables=tables,
                 notes="; ".join(notes) + "; venues in a separate process; raw = a bare "
                       "process importing the same third-party packages")


if __name__ == "__main__":
    main()
