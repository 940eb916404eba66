#!/usr/bin/env bash
# The README's main command: sets up .venv (once), then runs the CPU demo
# (tools/demo.py). Extra arguments go to it, e.g. `bash tools/demo.sh --quick`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
bash "$REPO/tools/setup_env.sh"
VENV=${VENV:-"$REPO/.venv"}
cd "$REPO"
exec "$VENV/bin/python" tools/demo.py "$@"
