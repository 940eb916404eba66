#!/usr/bin/env bash
# The test command of the README: sets up .venv (once), lints, runs the suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k patches`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# The end-to-end tests save checkpoints under the temp dir, about 1.5 GB at a
# time; on a full disk they fail as dozens of torch.save errors. Say so first.
TMP_ROOT="${TMPDIR:-/tmp}"
NEED_MB=${MMFFN_TEST_MIN_FREE_MB:-3000}
FREE_MB=$(df -Pm "$TMP_ROOT" | awk 'NR == 2 {print $4}')
if [ "$FREE_MB" -lt "$NEED_MB" ]; then
    echo "run_tests.sh: $TMP_ROOT has $FREE_MB MB free, the test suite needs" \
        "at least $NEED_MB MB there (set TMPDIR to a larger disk)" >&2
    exit 1
fi
bash "$REPO/tools/setup_env.sh"
VENV=${VENV:-"$REPO/.venv"}
cd "$REPO"
VENV="$VENV" bash "$REPO/tools/lint.sh"
# Two workers (pytest-xdist), one torch thread each (tests/conftest.py): the
# end-to-end tests run single-threaded subprocesses, so two cores halve the
# suite's time. MMFFN_TEST_WORKERS=0 runs it in one process.
exec "$VENV/bin/python" -m pytest tests -p no:cacheprovider \
    -n "${MMFFN_TEST_WORKERS:-2}" --durations=40 "$@"
