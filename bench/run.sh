#!/bin/sh
# bench/run.sh: webhookd's benchmark, in one run. It builds webhookd and the
# load tool (bench/), then measures back to back, alternating, ROUNDS times:
# the disk's fsync rate; a bare net/http handler, webhookd (the binary), and
# webhookd's listener+store in-process with and without group commit, at 16
# and 64 connections; webhookd in open loop at 5,000 req/s; webhookd with
# GOMAXPROCS=1 at 256 connections; webhookd running 10,000 queued jobs
# against a bare fork/exec loop and a naive durable one (each run's record
# committed before the next); and webhookd's start-up and memory on a
# store with 1,000,000 pending jobs against an empty one. It writes the
# medians, ratios and the machine description into docs/benchmarks.md
# (between its markers; the rest of the file is left alone).
#
#   bench/run.sh                      # about 10 minutes
#   ROUNDS=5 DURATION=10s bench/run.sh
#   BACKLOG=0 SCHED_JOBS=0 bench/run.sh   # HTTP ingest only
#
# Load goes to 127.0.0.1 only. Needs Go and about 3 GB free in $TMPDIR
# (the backlog store); the scratch directory is removed at the end.
set -eu
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
SIZE=${SIZE:-2048}
BACKLOG=${BACKLOG:-1000000}
SCHED_JOBS=${SCHED_JOBS:-10000}
SCHED_PARALLEL=${SCHED_PARALLEL:-1,4}
DOC=${DOC:-docs/benchmarks.md}

bin=$(mktemp -d "${TMPDIR:-/tmp}/webhookd-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT INT TERM
echo "bench/run.sh: building webhookd and webhookd-bench" >&2
# The commit goes into the binary, so that the report says what it measured
# (the go command's own stamp is missing where GOFLAGS has -buildvcs=false).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
go build -ldflags "-X main.commit=$commit" -o "$bin/webhookd" .
go build -o "$bin/webhookd-bench" ./bench
mkdir -p "$(dirname "$DOC")"

"$bin/webhookd-bench" suite \
	-webhookd "$bin/webhookd" \
	-rounds "$ROUNDS" -d "$DURATION" -warmup "$WARMUP" -size "$SIZE" \
	-backlog "$BACKLOG" -sched-jobs "$SCHED_JOBS" -sched-parallel "$SCHED_PARALLEL" \
	-out "$bin/results.jsonl" -doc "$DOC" \
	-cmdline "ROUNDS=$ROUNDS DURATION=$DURATION bench/run.sh" >&2
if [ -n "${RESULTS:-}" ]; then
	cp "$bin/results.jsonl" "$RESULTS"
fi
echo "bench/run.sh: wrote $DOC" >&2
