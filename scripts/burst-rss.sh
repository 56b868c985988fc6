#!/usr/bin/env bash
# Memory after a burst: `webhookd serve` on a config with one GitHub hook
# (the benchmark's: every push is stored, its action's when is false, so
# nothing is forked) takes 64 connections of signed pushes for 5 s from
# webhookd-bench, then sits idle; RssAnon from /proc/PID/status before the
# burst, at its highest during it, and 1, 5, 10, 20 and 30 s after it.
# Loopback only.
#
#   scripts/burst-rss.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bin=${1:-$tmp/webhookd}
if [ "$bin" = "$tmp/webhookd" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .
fi
go build -o "$tmp/webhookd-bench" ./bench
secret=burst-secret-0123456789
cat >"$tmp/webhookd.toml" <<TOML
[server]
listen = "127.0.0.1:0"

[store]
path = "$tmp/webhookd.db"

[admin]
listen = "127.0.0.1:0"

[[hook]]
id = "bench"
provider = "github"
secret = "$secret"

  [[hook.action]]
  name = "deploy"
  when = 'payload.ref == "refs/heads/release"'
  run = ["/bin/true"]
TOML
"$bin" serve -config "$tmp/webhookd.toml" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	grep -q 'msg="admin listening"' "$tmp/log" && break
	sleep 0.1
done
addr=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
[ -n "$addr" ] || { cat "$tmp/log"; exit 1; }
rss() { awk '/^RssAnon:/ {print $2 " kB"}' /proc/$pid/status; }
echo "webhookd serve, one GitHub hook ($(uname -m), $(go version | awk '{print $3}'))"
echo "before:  $(rss)"
"$tmp/webhookd-bench" load -url "http://$addr/hooks/bench" -secret "$secret" -c 64 -d 5s -pid $pid |
	sed -n 's/.*= \([0-9]* req\/s\).*RssAnon max \([0-9]* KiB\).*/burst:   \1, RssAnon at most \2/p'
start=$SECONDS
for t in 1 5 10 20 30; do
	sleep $((t - (SECONDS - start)))
	echo "+${t}s:    $(rss)"
done
