#!/usr/bin/env bash
# What the dashboard's pages cost the daemon: `webhookd serve` on a store
# of 100,000 events (webhookd-bench fill) plus events of 4 and 36 MiB
# (JSON, GitHub's form of it, bytes that are not text); for each page, the
# answer's status, the time to its first byte and to its end, its size,
# and the daemon's RssAnon before and at its highest while serving it
# (sampled every 10 ms); then the deliveries' latency with and without
# event pages and a listing of all 100,000 events being served beside
# them. A page gets 60 s (status 000 past that). Loopback only; runs for
# about a minute.
#
#   scripts/dashboard-cost.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bin=${1:-$tmp/webhookd}
if [ "$bin" = "$tmp/webhookd" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .
fi
go build -o "$tmp/webhookd-bench" ./bench
"$tmp/webhookd-bench" fill -db "$tmp/webhookd.db" -n 100000 -history -hook site -action deploy 2>/dev/null
cat >"$tmp/webhookd.toml" <<TOML
[server]
listen = "127.0.0.1:0"
max_body = "64MiB"

[store]
path = "$tmp/webhookd.db"

[admin]
listen = "127.0.0.1:0"

[[hook]]
id = "big"
provider = "none"
event_header = "X-Event"
max_body = "64MiB"

[[hook]]
id = "site"
provider = "none"
event_header = "X-Event"

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
pub=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
adm=$(sed -n 's/.*msg="admin listening" addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
[ -n "$pub" ] && [ -n "$adm" ] || { cat "$tmp/log"; exit 1; }

# A JSON body of about N bytes: a list of small objects, each whole (a
# body cut at N bytes mid-object was no JSON, and was shown as text).
json() {
	local item='{"id":1,"name":"item 1","tags":["a","b"],"at":{"x":1,"y":"zzzzzzzz"}},'
	printf '{"items":['
	yes "$item" | head -n $(($1 / ${#item})) | tr -d '\n'
	printf '{"id":0}]}'
}
form() {
	printf 'payload='
	json "$1" | sed 's/%/%25/g; s/{/%7B/g; s/}/%7D/g; s/"/%22/g; s/:/%3A/g; s/,/%2C/g; s/\[/%5B/g; s/\]/%5D/g; s/ /+/g'
}
send() { # send NAME CONTENT-TYPE FILE: stores it, records its id
	local id
	id=$(curl -sS -H "Content-Type: $2" -H "X-Event: push" --data-binary "@$3" "http://$pub/hooks/big" |
		sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
	echo "$1 $id" >>"$tmp/ids"
}
for mib in 4 36; do
	json $((mib << 20)) >"$tmp/body"
	send "json-${mib}MiB" application/json "$tmp/body"
	form $((mib << 19)) >"$tmp/body"
	send "form-$(($(stat -c %s "$tmp/body") >> 20))MiB" application/x-www-form-urlencoded "$tmp/body"
	head -c $((mib << 20)) /dev/urandom >"$tmp/body"
	send "binary-${mib}MiB" application/octet-stream "$tmp/body"
done
rm -f "$tmp/body"

anon() { awk '/^RssAnon:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0; }
page() { # page NAME PATH
	local before peak r sampler
	before=$(anon)
	(peak=0; while kill -0 $$ 2>/dev/null; do a=$(anon); [ "$a" -gt "$peak" ] && peak=$a && echo $peak >"$tmp/peak"; sleep 0.01; done) &
	sampler=$!
	r=$(curl -s --max-time 60 -o /dev/null -w '%{http_code} first byte %{time_starttransfer}s, all %{time_total}s, %{size_download} bytes' "http://$adm$2" || true)
	kill $sampler; wait $sampler 2>/dev/null || true
	peak=$(cat "$tmp/peak")
	if ! kill -0 $pid 2>/dev/null; then
		echo "$1: the daemon is gone; its log ends:"
		tail -20 "$tmp/log"
		exit 1
	fi
	printf '%-26s %s; RssAnon %d MB, at most %d MB\n' "$1" "$r" $((before >> 10)) $((peak >> 10))
}
echo "webhookd serve, a store of 100,000 events ($(uname -m), $(go version | awk '{print $3}'))"
while read -r name id; do
	page "event $name" "/events/$id"
done <"$tmp/ids"
page "events" "/"
page "events, 500" "/?limit=500"
next=$(curl -s "http://$adm/api/events?limit=500" | sed -n 's/.*"next": *"\([^"]*\)".*/\1/p')
page "events, 500, older" "/?limit=500&before=$next"
page "events, hook=site" "/?hook=site"
page "events, state=dead" "/?state=dead"
page "events, hook=nothing" "/?hook=nothing"
page "status" "/status"
page "rejections" "/rejections"

deliveries() { # N deliveries one after another: their latency
	for i in $(seq "$1"); do
		curl -s -o /dev/null -w '%{time_total}\n' -H 'X-Event: push' -H 'Content-Type: application/json' \
			-d "{\"ref\":\"refs/heads/main\",\"n\":$i}" "http://$pub/hooks/site"
	done | sort -n | awk '{a[NR] = $1} END {printf "median %.1f ms, p99 %.1f ms, max %.1f ms\n", a[int(NR/2)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'
}
big=$(awk '/^json-36MiB/ {print $2}' "$tmp/ids")
echo "300 deliveries, alone:                     $(deliveries 300)"
(for _ in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null "http://$adm/events/$big"; curl -s -o /dev/null "http://$adm/?state=dead"; done) &
lister=$!
echo "300 deliveries, beside big pages:          $(deliveries 300)"
kill $lister 2>/dev/null; wait $lister 2>/dev/null || true
