#!/usr/bin/env bash
# The whole suite in two pytest processes side by side: the end-to-end tests (one local Kubernetes cluster,
# their tests one after the other) and everything else (unit, packaging, node processes on loopback). They
# share nothing but the machine; run serially they take about 25 minutes, side by side about 18.
# Each part's output goes to a log under .dev/test; both are printed when the part ends; the exit status is
# non-zero when either failed. Extra arguments go to both pytest processes.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTEST=${PYTEST:-.venv/bin/pytest}
LOGS=.dev/test
mkdir -p "$LOGS"

# job control: the end-to-end part runs in its own process group and keeps SIGINT (a non-interactive shell
# would start it with SIGINT ignored), so Ctrl-C here reaches it through the trap and its fixtures tear down
set -m
"$PYTEST" tests/e2e --durations=20 "$@" >"$LOGS/e2e.log" 2>&1 &
e2e=$!
set +m
trap 'kill -INT "$e2e" 2>/dev/null; wait "$e2e"' INT TERM

"$PYTEST" --ignore=tests/e2e --durations=20 "$@" 2>&1 | tee "$LOGS/rest.log"
rest=${PIPESTATUS[0]}

wait "$e2e"
e2e_rc=$?
trap - INT TERM
echo "===================== end-to-end tests ($LOGS/e2e.log) ====================="
cat "$LOGS/e2e.log"
echo "make test: end-to-end exit $e2e_rc, the rest exit $rest"
[ "$rest" -eq 0 ] && [ "$e2e_rc" -eq 0 ]
