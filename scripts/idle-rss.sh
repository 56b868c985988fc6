#!/usr/bin/env bash
# Idle memory of `webhookd serve` on webhookd.toml.example: RssAnon from
# /proc/PID/status (the heap and stacks; the memory-mapped database is
# file-backed, in RssFile, and the kernel can drop it), after SECONDS of
# idling (default 10). The example's ports are moved to free loopback
# ports so that the measurement does not clash with anything running.
#
#   scripts/idle-rss.sh [SECONDS] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
wait=${1:-10}
tmp=$(mktemp -d)
bin=${2:-$tmp/webhookd}
if [ "$bin" = "$tmp/webhookd" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .
fi
cp -r webhookd.toml.example examples "$tmp/"
sed -i -e 's|^listen = ":9000"|listen = "127.0.0.1:0"|' -e 's|^listen = "127.0.0.1:9001"|listen = "127.0.0.1:0"|' "$tmp/webhookd.toml.example"
"$bin" serve -config "$tmp/webhookd.toml.example" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	grep -q 'msg="admin listening"' "$tmp/log" && break
	sleep 0.1
done
grep -q 'msg="admin listening"' "$tmp/log" || { cat "$tmp/log"; exit 1; }
sleep "$wait"
echo "webhookd serve on webhookd.toml.example, idle ${wait}s ($(uname -m), $(go version | awk '{print $3}'))"
grep -E '^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM|Threads):' /proc/$pid/status
echo "database file: $(stat -c %s "$tmp/webhookd.db") bytes"
