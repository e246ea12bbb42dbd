"""Start-up: ``import stockfish_core`` plus plugin discovery, in a fresh interpreter.

The raw baseline is a bare ``python -c pass`` in the same run, so the figure we report is
the cost we add to interpreter start-up. Goal: under 150 ms.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks import common

CODE = "import stockfish_core; from stockfish_core import plugins; plugins.load_plugins()"


def time_cmd(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    args = common.parse_args(__doc__ or "")
    runs = 5 if args.mode == "quick" else 20
    time_cmd(CODE)  # warm the OS file cache
    bare = [time_cmd("pass") for _ in range(runs)]
    ours = [time_cmd(CODE) for _ in range(runs)]
    added = [o - b for o, b in zip(sorted(ours), sorted(bare), strict=True)]
    common.write("startup", args, [
        common.metric("import + discovery (added to interpreter start)", "ms", added,
                      higher_is_better=False, goal="<= 150 ms", goal_abs=150.0),
        common.metric("interpreter start + import + discovery", "ms", ours, bare,
                      higher_is_better=False, goal="(context)"),
    ])


if __name__ == "__main__":
    main()
