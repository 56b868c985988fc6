#!/usr/bin/env bash
# Does webhookd's memory at start grow with its backlog? Stores of 0, 1,
# 1,000, 10,000, 100,000, 1,000,000 and 3,000,000 pending jobs (one queue,
# concurrency 1, an action that runs `sleep 600`; webhookd-bench fill),
# each started ROUNDS times (9), alternating, with webhookd-bench startup:
# the time until /healthz answers and the RssAnon 2 s later, medians.
# Every store but the empty one starts its first job and holds the rest.
# The table gives, for each store, its file's size, the medians, and every
# start's RssAnon.
# Needs about 5 GB free in $TMPDIR and some 6 minutes (the fills take 2);
# loopback only. The scratch directory is removed at the end.
#
#   scripts/backlog-memory.sh [BINARY]
#   SIZES="0 1 1000000" ROUNDS=15 scripts/backlog-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-0 1 1000 10000 100000 1000000 3000000}
ROUNDS=${ROUNDS:-9}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webhookd-backlog.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
bin=${1:-$tmp/webhookd}
if [ "$bin" = "$tmp/webhookd" ]; then
	go build -o "$bin" .
fi
go build -o "$tmp/webhookd-bench" ./bench
for n in $SIZES; do
	mkdir -p "$tmp/s$n"
	cat >"$tmp/s$n/webhookd.toml" <<TOML
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "1s"

[store]
path = "webhookd.db"

[admin]
listen = "127.0.0.1:0"

[log]
format = "text"

[[hook]]
id = "bench"
provider = "github"
secret = "bench-secret-0123456789"

  [[hook.action]]
  name = "run"
  run = ["/bin/sleep", "600"]
  concurrency = 1
TOML
	if [ "$n" -gt 1 ]; then
		echo "filling $n pending jobs" >&2
		"$tmp/webhookd-bench" fill -db "$tmp/s$n/webhookd.db" -n "$n" >/dev/null 2>&1
	fi
done
# A stop cuts the running `sleep 600` off, and the fifth cut in a row
# leaves its job dead: the stores of up to 5 jobs are made again before
# each start (on the larger ones the next job runs instead, the same work).
fresh() {
	if [ "$1" -gt 0 ] && [ "$1" -le 5 ]; then
		rm -f "$tmp/s$1/webhookd.db"
		"$tmp/webhookd-bench" fill -db "$tmp/s$1/webhookd.db" -n "$1" >/dev/null 2>&1
	fi
}
start() { # size: one start; prints "ms kb"
	fresh "$1"
	"$tmp/webhookd-bench" startup -bin "$bin" -config "$tmp/s$1/webhookd.toml" -rounds 1 -json 2>/dev/null |
		sed -E 's/.*"start_ms":([0-9.]+).*"rss_anon_kb":([0-9.]+).*/\1 \2/'
}
# One start each, not measured: it creates the empty store and reads each
# file into the page cache, as a daemon restarted on its machine finds it.
for n in $SIZES; do start "$n" >/dev/null; done
for r in $(seq "$ROUNDS"); do
	for n in $SIZES; do
		start "$n" >>"$tmp/s$n.results"
	done
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "| pending jobs | file MiB | start-up ms | RssAnon KiB | each start's RssAnon KiB, sorted |"
echo "|---:|---:|---:|---:|---|"
for n in $SIZES; do
	size=$(stat -c %s "$tmp/s$n/webhookd.db" | awk '{printf "%.1f", $1 / 1048576}')
	ms=$(cut -d' ' -f1 "$tmp/s$n.results" | median)
	kb=$(cut -d' ' -f2 "$tmp/s$n.results" | median)
	all=$(cut -d' ' -f2 "$tmp/s$n.results" | sort -n | paste -sd, - | sed 's/,/, /g')
	echo "| $n | $size | $ms | $kb | $all |"
done
