"""Run every benchmark in one go and write BENCHMARKS.md and the plots.

``python -m benchmarks --quick`` (CI: a few seconds each, results under
``benchmarks/results/quick/``) or ``python -m benchmarks --full`` (by hand; results, plots
and BENCHMARKS.md are committed). ``--only zmq,fix`` limits the set.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name -> (module, import it needs, or None)
BENCHMARKS: dict[str, tuple[str, str | None]] = {
    "startup": ("benchmarks.bench_startup", None),
    "router": ("benchmarks.bench_router", None),
    "manager": ("benchmarks.bench_manager", None),
    "journal": ("benchmarks.bench_journal", None),
    "memory": ("benchmarks.bench_memory", None),
    "sim": ("benchmarks.bench_sim", None),
    "zmq": ("benchmarks.bench_zmq", "stockfish_zmq"),
    "fix": ("benchmarks.bench_fix", "stockfish_fix"),
    "ibkr": ("benchmarks.bench_ibkr", "stockfish_ibkr"),
    "nats": ("benchmarks.bench_nats", "stockfish_nats"),
}


def _available(module: str, needs: str | None) -> str | None:
    if not (HERE / f"{module.rsplit('.', 1)[1]}.py").exists():
        return "not written yet"
    if needs is not None:
        import importlib.util

        if importlib.util.find_spec(needs) is None:
            return f"{needs} is not installed"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    parser.add_argument("--only", default="", help="comma list of benchmark names")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per benchmark, seconds")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: rewrite the report (and, with --full, the plots) "
                             "from the results on file")
    args = parser.parse_args(argv)
    flag = "--full" if args.full else "--quick"
    out = common.RESULTS if args.full else common.RESULTS / "quick"
    chosen = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
    if args.report:
        chosen = []
    failures: list[str] = []
    skipped: dict[str, str] = {}
    for name in chosen:
        module, needs = BENCHMARKS[name]
        reason = _available(module, needs)
        if reason:
            skipped[name] = reason
            print(f"-- {name}: skipped ({reason})")
            continue
        print(f"-- {name}", flush=True)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", module, flag, "--out", str(out)],
                              cwd=ROOT, timeout=args.timeout, check=False)
        print(f"   ({time.monotonic() - start:.1f} s)", flush=True)
        if proc.returncode != 0:
            failures.append(name)
    # The report covers every result on file, so running a subset refreshes only those rows.
    results = _collect(out, list(BENCHMARKS))
    report = render(results, skipped, "full" if args.full else "quick")
    if args.full:
        (ROOT / "BENCHMARKS.md").write_text(report)
        plot(results, HERE / "plots")
    else:
        (out / "BENCHMARKS.md").write_text(report)
    if failures:
        print(f"benchmarks failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def _collect(out: Path, names: list[str]) -> list[dict[str, Any]]:
    results = []
    for name in names:
        path = out / f"{name}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    return results


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"


def render(results: list[dict[str, Any]], skipped: dict[str, str], mode: str) -> str:
    machine = results[0]["machine"] if results else common.machine()
    lines = [
        "# Benchmarks",
        "",
        f"Mode: {mode}. Machine: {machine['cores']} cores, {machine['implementation']} "
        f"{machine['python']}, {machine['platform']}.",
        "Every figure is the median over repeated runs (min-max in brackets); the raw library "
        "is measured in the same run and our figure is reported as a ratio of it.",
        "Regenerate with `tox -e bench -- --full` (or `python -m benchmarks --full`).",
        "",
        "| benchmark | metric | ours | raw | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for m in result["metrics"]:
            ours = m["ours"]
            raw = m["raw"]
            ours_txt = f"{_fmt(ours['median'])} {m['unit']} [{_fmt(ours['min'])}-" \
                       f"{_fmt(ours['max'])}]"
            raw_txt = f"{_fmt(raw['median'])} {m['unit']}" if raw else "-"
            ratio = f"{m['ratio']:.2f}x" if m["ratio"] is not None else "-"
            met = {True: "yes", False: "**no**", None: "-"}[m["met"]]
            lines.append(f"| {result['name']} | {m['metric']} | {ours_txt} | {raw_txt} | "
                         f"{ratio} | {m['goal']} | {met} |")
    if any(result.get("tables") for result in results):
        lines += ["", "## Breakdowns"]
    for result in results:
        for table in result.get("tables", []):
            lines += ["", f"### {table['title']}", "",
                      "| " + " | ".join(table["columns"]) + " |",
                      "|" + " --- |" * len(table["columns"])]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]]
    notes = [(r["name"], r["notes"]) for r in results if r.get("notes")]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- **{name}**: {text}" for name, text in notes]
    findings = HERE / "findings.md"
    if findings.exists():
        lines += ["", findings.read_text().strip()]
    if skipped:
        lines += ["", "## Not run", ""]
        lines += [f"- {name}: {reason}" for name, reason in skipped.items()]
    if mode == "full":
        lines += ["", "## Plots", "", "![throughput](benchmarks/plots/throughput.png)",
                  "", "![latency](benchmarks/plots/latency_cdf.png)"]
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], folder: Path) -> None:
    """Throughput bars (ours vs raw) and latency CDFs from the samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    bars = [(f"{r['name']}: {m['metric']}", m) for r in results for m in r["metrics"]
            if m["higher_is_better"] and m["raw"]]
    if bars:
        fig, ax = plt.subplots(figsize=(10, 0.5 * len(bars) + 1.5))
        labels = [label for label, _ in bars]
        ratios = [m["ratio"] for _, m in bars]
        ax.barh(labels, [1.0] * len(bars), color="#cccccc", label="raw library (= 1.0)")
        ax.barh(labels, ratios, height=0.5, color="#2a7ab9", label="ours / raw")
        ax.set_xlabel("throughput ratio to the raw library (median)")
        ax.invert_yaxis()
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(folder / "throughput.png", dpi=110)
        plt.close(fig)
    cdfs = [(f"{r['name']}: {m['metric']} ({m['unit']})", m["samples"]) for r in results
            for m in r["metrics"] if m.get("samples")]
    if cdfs:
        fig, ax = plt.subplots(figsize=(9, 5))
        for label, samples in cdfs:
            data = sorted(samples)
            ys = [(i + 1) / len(data) for i in range(len(data))]
            ax.plot(data, ys, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency, in each curve's unit (log scale)")
        ax.set_ylabel("fraction of samples")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "latency_cdf.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
