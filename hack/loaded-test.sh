#!/usr/bin/env bash
# Run `make test` several times in a row while other processes keep every core busy, as on a
# shared CI runner or a laptop doing something else. Tests bound their waits by progress, not
# by the clock (tests/progress.py); this is how to check that they still pass when starved.
#
#   hack/loaded-test.sh [RUNS]
#
# RUNS (default 3): how many times to run `make test`. Environment:
#   LOADERS      busy processes to start           [the number of cores: nproc]
#   PYTEST_ARGS  passed through to `make test`     [empty: the whole suite]
#   LOG_DIR      where each run's output goes      [a new temporary folder]
# The load is `stress-ng --cpu LOADERS` when stress-ng is installed, else LOADERS times
# `yes > /dev/null`. The loaders are stopped on every exit, Ctrl-C included. Prints each run's
# wall time and result; exits non-zero when any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS="${1:-3}"
case "$RUNS" in
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  ''|*[!0-9]*|0) echo "RUNS must be a positive integer, got '$RUNS' (see --help)" >&2; exit 2 ;;
esac
LOADERS="${LOADERS:-$(nproc)}"
LOG_DIR="${LOG_DIR:-$(mktemp -d -t acdc-loaded-test.XXXXXX)}"
mkdir -p "$LOG_DIR"

LOADER_PIDS=()
stop_loaders() {
  local pid
  for pid in "${LOADER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${LOADER_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  LOADER_PIDS=()
}
trap stop_loaders EXIT
trap 'exit 130' INT TERM

if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu "$LOADERS" --quiet &
  LOADER_PIDS+=("$!")
  load="stress-ng --cpu $LOADERS"
else
  for _ in $(seq "$LOADERS"); do
    yes >/dev/null &
    LOADER_PIDS+=("$!")
  done
  load="$LOADERS x yes > /dev/null"
fi
echo "load: $load (pids ${LOADER_PIDS[*]}); logs in $LOG_DIR"

failed=0
for run in $(seq "$RUNS"); do
  log="$LOG_DIR/run-$run.log"
  start=$(date +%s)
  if make test PYTEST_ARGS="${PYTEST_ARGS:-}" >"$log" 2>&1; then result=passed; else result=FAILED; failed=$((failed + 1)); fi
  seconds=$(( $(date +%s) - start ))
  summary="$(grep -E '^[0-9]+ (passed|failed|errors?|skipped)|^=+ .*(passed|failed|error).* =+$' "$log" | tail -n 1 || true)"
  printf 'run %d/%d: %s in %dm%02ds  %s\n' "$run" "$RUNS" "$result" $((seconds / 60)) $((seconds % 60)) "$summary"
done

echo "$((RUNS - failed)) of $RUNS runs passed under load ($load)"
[ "$failed" -eq 0 ]
