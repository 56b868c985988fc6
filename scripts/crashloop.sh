#!/usr/bin/env bash
# Crash loop: CYCLES times start webhookd, drive signed load, SIGKILL it at a
# random moment (while actions run, and right after a start while retention
# prunes), and check the guarantees on the file it left (TestE2E_CrashLoop in
# e2e_crash_test.go; the test suite runs 10 cycles of it).
#
#   scripts/crashloop.sh [-record] [CYCLES [SEED]]
#
# CYCLES defaults to 100; SEED (0: random) repeats a run's kill times. With
# -record, the result is added to the table in docs/reliability.md, with the
# command, the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."

record=0
if [ "${1:-}" = "-record" ]; then
	record=1
	shift
fi
cycles=${1:-100}
seed=${2:-0}
case "$cycles$seed" in *[!0-9]*) echo "usage: $0 [-record] [CYCLES [SEED]]" >&2; exit 2 ;; esac

out=$(mktemp "${TMPDIR:-/tmp}/crashloop-XXXXXX.log")
set +e
go test -count=1 -timeout 0 -run '^TestE2E_CrashLoop$' -v . -args -crashloop.cycles="$cycles" -crashloop.seed="$seed" >"$out" 2>&1
status=$?
set -e
# The test's own lines (not the daemon logs it dumps on failure).
grep -E '^\s+e2e_[a-z_]+_test\.go:[0-9]+: |^(--- |ok|FAIL)' "$out" | grep -v 'webhookd log (' || true
if [ $status -ne 0 ]; then
	echo "--- the crash loop FAILED; its whole output, with the daemons' logs: $out"
fi

if [ $record -eq 1 ]; then
	result=$(grep -o 'CRASHLOOP .*' "$out" | tail -1 | sed 's/^CRASHLOOP //')
	if [ -z "$result" ]; then
		result="FAIL: $(grep -m1 -oE 'cycle [0-9]+ failed \(seed [0-9]+\)|timed out.*' "$out" || echo 'see the output')"
	fi
	cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
	machine="$(uname -sm), ${cpu:-unknown CPU}, $(nproc) CPUs, $(go env GOVERSION)"
	row="| $(date -u +%Y-%m-%d) | \`scripts/crashloop.sh $cycles${2:+ $seed}\` | $machine | $result |"
	doc=docs/reliability.md
	marker='<!-- crashloop.sh -record adds rows above this line -->'
	if ! grep -qF "$marker" "$doc"; then
		echo "$doc has no results marker; not recorded" >&2
		exit 1
	fi
	awk -v row="$row" -v marker="$marker" '$0 == marker { print row } { print }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
	echo "recorded in $doc"
fi
if [ $status -eq 0 ]; then
	rm -f "$out"
fi
exit $status
