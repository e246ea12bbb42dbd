#!/usr/bin/env bash
# The main job on a fresh machine: install the core and every connector plugin in a venv,
# then run `stockfish-rt demo` against the simulated venues (no account, no network).
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --duration 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
packages=(-e core)
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && packages+=(-e "$plugin")
done
.venv/bin/python -m pip install --quiet "${packages[@]}"
exec .venv/bin/stockfish-rt demo "$@"
