#!/usr/bin/env bash
# Build a wheel of every package of this checkout (stockfish-core, each plugin in plugins/,
# each example in examples/) into ./dist, or into the directory given as $1. Then install
# what you need from them, e.g.:
#
#     python -m pip install --find-links dist stockfish-fix
#
# pip takes stockfish-core from dist/ and the venue libraries (quickfix, pyzmq, ib_insync)
# from your package index. Uses $PYTHON (default: python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-dist}"
python="${PYTHON:-python3}"
mkdir -p "$out"
packages=("$root/core")
for dir in "$root"/plugins/*/ "$root"/examples/*/; do
    if [ -f "$dir/pyproject.toml" ]; then
        packages+=("${dir%/}")
    fi
done
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out" "${packages[@]}"
echo "built $(ls "$out"/stockfish_*.whl | wc -l) wheels in $out:"
ls "$out"/stockfish_*.whl
