#!/usr/bin/env bash
# The test command of the README: sets up .venv (once), lints, runs the suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k compat`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
bash "$REPO/tools/setup_env.sh"
VENV=${VENV:-"$REPO/.venv"}
cd "$REPO"
VENV="$VENV" bash "$REPO/tools/lint.sh"
exec "$VENV/bin/python" -m pytest tests -p no:cacheprovider "$@"
