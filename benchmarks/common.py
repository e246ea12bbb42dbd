"""Shared benchmark plumbing: argument parsing, statistics, the results file format.

Every benchmark measures the raw library in the same run and reports our figure as a ratio.
A result file (``benchmarks/results/<name>.json``) holds::

    {"name": ..., "mode": "quick"|"full", "machine": {...},
     "metrics": [{"metric": ..., "unit": ..., "higher_is_better": bool,
                  "ours": {"median": .., "min": .., "max": .., "runs": [..]},
                  "raw": {...} | null, "ratio": float | null,
                  "goal": "text", "met": bool | null, "samples": [...]}]}
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a few seconds (CI)")
    mode.add_argument("--full", action="store_true", help="the full run (results committed)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default: benchmarks/results, or a quick/ "
                             "subdirectory in quick mode)")
    args = parser.parse_args(argv)
    compile_sources()
    args.mode = "full" if args.full else "quick" if args.quick else "full"
    if args.out is None:
        args.out = RESULTS if args.mode == "full" else RESULTS / "quick"
    return args


def compile_sources() -> None:
    """Byte-compile this checkout's packages, as ``pip install`` does for a wheel: the
    third-party libraries load from .pyc, so ours must too (compiling from source at each
    start inflates both start-up time and RSS). A no-op when the .pyc are current."""
    import compileall

    for src in [ROOT / "core" / "src", *ROOT.glob("plugins/*/src"), *ROOT.glob("examples/*/src")]:
        compileall.compile_dir(src, quiet=1)


def clean(run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one measurement after collecting the previous runs' garbage and freezing what is
    left, so that no run pays for another's cycles in a gen-2 collection."""
    gc.collect()
    gc.freeze()
    try:
        return run(*args, **kwargs)
    finally:
        gc.unfreeze()


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(), "processor": platform.machine()}


def summary(runs: Sequence[float]) -> dict[str, Any]:
    data = sorted(runs)
    return {"median": statistics.median(data), "min": data[0], "max": data[-1],
            "runs": [round(r, 6) for r in runs]}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    data = sorted(values)
    return data[min(int(q * len(data)), len(data) - 1)]


def metric(name: str, unit: str, ours: Sequence[float], raw: Sequence[float] | None = None,
           *, higher_is_better: bool = True, goal: str = "",
           goal_ratio: float | None = None, goal_abs: float | None = None,
           samples: Sequence[float] | None = None) -> dict[str, Any]:
    """One figure: ours (and the raw library's) over repeated runs, with its goal.

    ``goal_ratio`` is checked against ours/raw (at least it when higher is better, at most
    when lower is better); ``goal_abs`` against our median.
    """
    ours_s = summary(ours)
    raw_s = summary(raw) if raw else None
    ratio = ours_s["median"] / raw_s["median"] if raw_s and raw_s["median"] else None
    met: bool | None = None
    if goal_ratio is not None and ratio is not None:
        met = ratio >= goal_ratio if higher_is_better else ratio <= goal_ratio
    if goal_abs is not None:
        ok = ours_s["median"] >= goal_abs if higher_is_better else ours_s["median"] <= goal_abs
        met = ok if met is None else (met and ok)
    out = {"metric": name, "unit": unit, "higher_is_better": higher_is_better,
           "ours": ours_s, "raw": raw_s, "ratio": ratio, "goal": goal, "met": met}
    if samples is not None:
        out["samples"] = [round(s, 3) for s in samples[:20000]]
    return out


def write(name: str, args: argparse.Namespace, metrics: list[dict[str, Any]],
          notes: str = "", tables: list[dict[str, Any]] | None = None) -> Path:
    """Write the result file; ``tables`` (``{"title", "columns", "rows"}``) are breakdowns
    printed under the summary table of BENCHMARKS.md."""
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.json"
    result = {"name": name, "mode": args.mode, "machine": machine(), "metrics": metrics,
              "notes": notes, "tables": tables or []}
    path.write_text(json.dumps(result, indent=1))
    for m in metrics:
        ratio = f" ratio {m['ratio']:.2f}" if m["ratio"] is not None else ""
        met = {True: "met", False: "MISSED", None: ""}[m["met"]]
        print(f"{name:<8} {m['metric']:<44} {m['ours']['median']:>14,.2f} {m['unit']:<8}"
              f"{ratio} {m['goal']} {met}")
    for table in tables or []:
        print(f"{name:<8} {table['title']}")
        for row in table["rows"]:
            print("         " + " | ".join(str(c) for c in row))
    return path


def print_ratios(metrics: list[dict[str, Any]]) -> None:
    """One JSON line: each metric's median, the raw library's, the ratio and the verdict."""
    print(json.dumps({m["metric"]: {"ours": m["ours"]["median"],
                                    "raw": m["raw"]["median"] if m["raw"] else None,
                                    "ratio": m["ratio"], "met": m["met"]} for m in metrics}))
