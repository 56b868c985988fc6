#!/usr/bin/env bash
# Leak check: REQUESTS signed requests (some refused) and RUNS action runs
# (half commands, half HTTP) against the real daemon, in PHASES; after a
# warm-up and after each phase, with the queue drained and idle connections
# closed, it prints the daemon's goroutines, open files and resident memory
# (TestE2E_Leaks in e2e_leak_test.go; the suite runs 5,000 / 500 in 2 phases).
#
#   scripts/leakcheck.sh [REQUESTS [RUNS [PHASES]]]     (default 100000 10000 10)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-100000}
runs=${2:-10000}
phases=${3:-10}
case "$requests$runs$phases" in *[!0-9]*) echo "usage: $0 [REQUESTS [RUNS [PHASES]]]" >&2; exit 2 ;; esac
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(uname -sm), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(go env GOVERSION)"
echo "# scripts/leakcheck.sh $requests $runs $phases"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
go test -count=1 -timeout 0 -run '^TestE2E_Leaks$' -v . -args \
	-leak.requests="$requests" -leak.runs="$runs" -leak.phases="$phases" >"$out" 2>&1
status=$?
set -e
# The table, and any failure, without the daemon's log lines.
grep -vE '^\s+(time=|e2e_test\.go:)' "$out" | grep -E 'LEAKS|^\s+\||want|^(--- |ok|FAIL)' || true
exit $status
