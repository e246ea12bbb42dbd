#!/usr/bin/env bash
# The whole test suite on a fresh machine: a venv with tox, then every tox environment
# (core alone, each plugin, integration, reliability, lint, types, quick benchmarks, demo).
# Extra arguments go to tox, e.g. `bash scripts/test.sh -e core`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-tox
.venv-tox/bin/python -m pip install --quiet --upgrade pip
.venv-tox/bin/python -m pip install --quiet "tox>=4.11"
exec .venv-tox/bin/tox run "$@"
