#!/usr/bin/env bash
# Deep fuzzing: schemathesis against the live schema of a real gunicorn (3 workers) and an
# analysis worker, as tests/system/test_fuzz.py does in `make test`, but with 200 examples per
# operation and phase and its phases repeated for 15 minutes (at least 3,000 cases).
# Then the bounds of bad input (API.md "Bad input, bounded"; bench/bounds_bench.py): the time
# of the largest key / q / name / genre / URL against the smallest, through a real gunicorn
# (median and minimum ratios; target <= 2).
# Only 127.0.0.1 is called (search providers point at a dead local port, no credentials).
# Figures: printed at the end and kept in $QL_FUZZ_REPORT (schemathesis' JSON run report);
# record them in bench/RESULTS-fuzz.md.
#
#   bench/fuzz.sh                       # both; uses $REDIS_URL, or starts a private redis-server
#   bench/fuzz.sh bounds [--rounds N]   # only the bounds (a minute)
#   bench/fuzz.sh schemathesis [ARGS]   # only the fuzzing (ARGS go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
REDIS_URL=$($PY scripts/ensure_redis.py)
export REDIS_URL
part=all
case "${1:-}" in
  bounds|schemathesis) part=$1; shift ;;
esac

run_bounds() {
  echo "bounds of bad input: largest vs smallest values through gunicorn" >&2
  $PY bench/bounds_bench.py "$@"
}

run_schemathesis() {
  export QL_FUZZ_DEPTH=deep
  export QL_FUZZ_REPORT=${QL_FUZZ_REPORT:-$(mktemp -t ql-fuzz-report-XXXXXX.json)}
  echo "fuzzing (deep); report: $QL_FUZZ_REPORT" >&2
  $PY -m pytest tests/system/test_fuzz.py -q -s -p no:cacheprovider "$@"
}

case $part in
  bounds) run_bounds "$@" ;;
  schemathesis) run_schemathesis "$@" ;;
  all) run_bounds; run_schemathesis "$@" ;;
esac
