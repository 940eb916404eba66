#!/usr/bin/env bash
# Create (once) the project's virtual environment in .venv and install mmffn
# with its pinned stack. Idempotent: a second run only checks a stamp.
#
# Environment:
#   VENV          where to put the environment (default: <repo>/.venv)
#   PYTHON3       interpreter used to create it (default: python3)
#   TORCH_SPEC    torch requirement (default: torch==2.13.0)
#   TORCH_INDEX   extra index for a CPU-only torch build, used when no NVIDIA
#                 GPU is present and the index answers (a plain `pip install
#                 torch` on Linux pulls a multi-GB CUDA build).
#
# mmcv: a full `mmcv` already in the venv (GPU machines) is kept and mmffn is
# installed without an mmcv extra; otherwise the extra `lite` adds
# mmcv-lite==2.1.0 (see docs/install.md). `setup_env.sh --print-target` prints
# the pip target it would install and changes nothing.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV=${VENV:-"$REPO/.venv"}
PYTHON3=${PYTHON3:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
STAMP="$VENV/.mmffn-stamp"

# The pip target for mmffn. Never `[lite]` beside a full mmcv: both
# distributions own the `mmcv` package. An mmcv-lite already there still gets
# `[lite]`, which keeps it at 2.1.0.
install_target() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import importlib.metadata
importlib.metadata.distribution('mmcv')  # the full one; raises if absent
PY
    then
        echo "$REPO[tests]"
    else
        echo "$REPO[lite,tests]"
    fi
}

if [ "${1:-}" = "--print-target" ]; then
    install_target
    exit 0
fi

stamp_value() {
    cat "$REPO/setup.py" "$REPO/tools/setup_env.sh" | "$PYTHON3" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ] \
        && "$VENV/bin/python" -c 'import mmffn' >/dev/null 2>&1; then
    exit 0
fi

echo "[setup_env] preparing $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON3" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    EXTRA=()
    if ! command -v nvidia-smi >/dev/null 2>&1 && "$PYTHON3" - "$TORCH_INDEX" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=3)
PY
    then
        EXTRA=(--extra-index-url "$TORCH_INDEX")
    fi
    echo "[setup_env] installing $TORCH_SPEC ${EXTRA[*]:-}"
    "${PIP[@]}" install -q "${EXTRA[@]}" "$TORCH_SPEC"
fi

TARGET="$(install_target)"
echo "[setup_env] installing mmffn and its stack: $TARGET"
"${PIP[@]}" install -q -e "$TARGET"
if ! CHECK="$("$VENV/bin/python" -c 'import mmffn, mmaction.models' 2>&1)"; then
    echo "$CHECK" >&2  # e.g. mmffn's message when no mmcv is installed
    exit 1
fi
stamp_value > "$STAMP"
echo "[setup_env] ready: $VENV"
