#!/usr/bin/env bash
# Lint as OpenMMLab projects do: flake8, isort and yapf with setup.cfg's
# settings. Checks only; `bash tools/lint.sh --fix` rewrites the files.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV=${VENV:-"$REPO/.venv"}
cd "$REPO"
PATHS=(mmffn tests tools benchmarks configs setup.py)
if [ "${1:-}" = "--fix" ]; then
    "$VENV/bin/python" -m isort "${PATHS[@]}"
    "$VENV/bin/python" -m yapf -r -i -p "${PATHS[@]}"
fi
"$VENV/bin/python" -m flake8 "${PATHS[@]}"
"$VENV/bin/python" -m isort --check-only --diff "${PATHS[@]}"
DIFF=$("$VENV/bin/python" -m yapf -r -d "${PATHS[@]}") || true
if [ -n "$DIFF" ]; then
    echo "$DIFF"
    echo "[lint] yapf would reformat the files above: bash tools/lint.sh --fix" >&2
    exit 1
fi
echo "[lint] flake8, isort and yapf: clean"
