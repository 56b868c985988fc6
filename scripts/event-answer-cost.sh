#!/usr/bin/env bash
# What one event with all of its body costs: `webhookd serve` with events
# of SIZE MiB (default 36: JSON, JSON cut short, GitHub's form of JSON,
# text, bytes that are not text); for each, GET /api/events/{id} read to its end (the
# daemon's RssAnon before and at its highest, sampled every 10 ms), then
# `webhookd show ID` to a pipe and `webhookd show -json ID` (the command's
# highest RSS, from /usr/bin/time). Loopback only; about two minutes.
#
#   scripts/event-answer-cost.sh [BINARY [SIZE]]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bin=${1:-$tmp/webhookd}
mib=${2:-36}
if [ "$bin" = "$tmp/webhookd" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" .
fi
cat >"$tmp/webhookd.toml" <<TOML
[server]
listen = "127.0.0.1:0"
max_body = "256MiB"

[store]
path = "$tmp/webhookd.db"

[admin]
listen = "127.0.0.1:0"

[[hook]]
id = "big"
provider = "none"
event_header = "X-Event"
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

# A JSON body of about N bytes: a list of small objects.
item='{"id":1,"name":"item <1> & co","tags":["a","b"],"at":{"x":1,"y":"zzzzzzzz"}},'
json() {
	printf '{"items":['
	head -n $(($1 / ${#item})) < <(yes "$item") | tr -d '\n'
	printf '{"id":0}]}'
}
form() {
	printf 'payload='
	json "$1" | sed 's/%/%25/g; s/&/%26/g; s/</%3C/g; s/>/%3E/g; s/{/%7B/g; s/}/%7D/g; s/"/%22/g; s/:/%3A/g; s/,/%2C/g; s/\[/%5B/g; s/\]/%5D/g; s/ /+/g'
}
text() { head -c "$1" < <(yes $'2026-12-07T20:41:12Z\tINFO\t"GET /index.html" <200> & 1234 bytes, café'); }
send() { # send NAME CONTENT-TYPE FILE: stores it, records its id
	local id
	id=$(curl -sS -H "Content-Type: $2" -H "X-Event: push" --data-binary "@$3" "http://$pub/hooks/big" |
		sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
	echo "$1 $id" >>"$tmp/ids"
}
n=$((mib << 20))
json $n >"$tmp/body" && send "json" application/json "$tmp/body"
head -c $((n - 100)) "$tmp/body" >"$tmp/cut" && send "cut" application/json "$tmp/cut" # JSON cut short: text
form $((n * 2 / 3)) >"$tmp/body" && send "form" application/x-www-form-urlencoded "$tmp/body"
text $n >"$tmp/body" && send "text" text/plain "$tmp/body"
head -c $n /dev/urandom >"$tmp/body" && send "bytes" application/octet-stream "$tmp/body"
rm -f "$tmp/body" "$tmp/cut"

anon() { awk '/^RssAnon:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0; }
echo "webhookd serve, events of $mib MiB ($(uname -m), $(nproc) CPUs, $(go version | awk '{print $3}'))"
while read -r name id; do
	# webhookd hands its freed memory back once it has been quiet for a
	# look of 5 s: measured from there, not from what the last delivery
	# or answer left.
	sleep 11
	before=$(anon)
	echo "$before" >"$tmp/peak"
	(peak=0; while kill -0 $$ 2>/dev/null; do a=$(anon); [ "$a" -gt "$peak" ] && peak=$a && echo $peak >"$tmp/peak"; sleep 0.01; done) &
	sampler=$!
	r=$(curl -s --max-time 120 -o /dev/null -w '%{http_code}, %{size_download} bytes, first byte %{time_starttransfer}s, all %{time_total}s' "http://$adm/api/events/$id" || true)
	kill $sampler; wait $sampler 2>/dev/null || true
	kill -0 $pid 2>/dev/null || { echo "$name: the daemon is gone; its log ends:"; tail -20 "$tmp/log"; exit 1; }
	printf '%-6s GET /api/events/ID: %s; daemon RssAnon %d MB, at most %d MB\n' "$name" "$r" $((before >> 10)) $(($(cat "$tmp/peak") >> 10))
	for args in "" "-json"; do
		bytes=$(/usr/bin/time -o "$tmp/time" -f '%M %e' "$bin" show -config "$tmp/webhookd.toml" -admin "$adm" $args "$id" | wc -c)
		read -r kb secs <"$tmp/time"
		printf '%-6s show %-5s %d bytes out, %.1f s, max RSS %d MB\n' "$name" "$args" "$bytes" "$secs" $((kb >> 10))
	done
done <"$tmp/ids"
