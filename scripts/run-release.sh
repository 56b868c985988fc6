#!/usr/bin/env bash
# Runs each binary scripts/release.sh made as a user runs it, on the
# bundled example config: start it, send it a signed push (202) and see
# examples/deploy.sh run, send the same delivery again (200, a duplicate),
# stop it (SIGTERM, exit status 0), start it again on the same database
# and send that delivery once more (still a duplicate: the file the
# binary wrote is read back). amd64 runs natively; arm64, armv6 and armv7
# (the Raspberry Pi builds) under qemu-user, which CI installs from
# Debian's packages. A machine without qemu-user says so and skips them.
#
#   scripts/run-release.sh DIST VERSION
set -euo pipefail
dist=$(cd "$1" && pwd) version=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "run-release: $*" >&2; exit 1; }

native="$dist/webhookd-$version-linux-amd64"
[ -x "$native" ] || fail "$native missing"
if ! command -v qemu-arm-static >/dev/null; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
	{ $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-user-static; } >/dev/null 2>&1 || true
fi

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

body='{"ref":"refs/heads/main","after":"0123abc","repository":{"full_name":"me/site"}}'

# start RUNNER... BIN: starts the daemon in $dir, sets pid and addr.
start() {
	: >"$dir/log"
	(cd "$dir" && exec "$@" -config webhookd.toml 2>>"$dir/log") &
	pid=$!
	addr=""
	for _ in $(seq 300); do
		addr=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$dir/log" | head -1)
		[ -n "$addr" ] && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; fail "$target: exited at start"; }
		sleep 0.1
	done
	cat "$dir/log" >&2
	fail "$target: not listening after 30 s"
}

# send WANT: sends the push as delivery smoke-1; its status must be WANT.
send() {
	local out
	out=$("$native" send -config "$dir/webhookd.toml" -url "http://$addr/hooks/site" -delivery smoke-1 site "$body" 2>&1) ||
		{ echo "$out" >&2; fail "$target: send failed"; }
	grep -q "^HTTP/1.1 $1 " <<<"$out" || { echo "$out" >&2; cat "$dir/log" >&2; fail "$target: want $1"; }
}

stop() {
	kill -TERM "$pid"
	local code=0
	wait "$pid" || code=$?
	pid=""
	[ "$code" -eq 0 ] || { cat "$dir/log" >&2; fail "$target: exit status $code after SIGTERM; want 0"; }
}

for target in amd64 arm64 armv6 armv7; do
	bin="$dist/webhookd-$version-linux-$target"
	[ -x "$bin" ] || fail "$bin missing"
	case $target in
	amd64) runner=() ;;
	arm64) runner=(qemu-aarch64-static) ;;
	armv6 | armv7) runner=(qemu-arm-static) ;;
	esac
	if [ ${#runner[@]} -gt 0 ] && ! command -v "${runner[0]}" >/dev/null; then
		echo "$target: ${runner[0]} is not installed: not run"
		continue
	fi
	dir="$work/$target"
	mkdir -p "$dir/examples"
	cp "$repo/examples/deploy.sh" "$dir/examples/"
	sed 's/^listen = ".*"/listen = "127.0.0.1:0"/' "$repo/webhookd.toml.example" >"$dir/webhookd.toml"
	[ "$(grep -c '^listen = "127.0.0.1:0"' "$dir/webhookd.toml")" -eq 2 ] ||
		fail "webhookd.toml.example: want two listen lines (the public and the admin listener)"

	start "${runner[@]}" "$bin"
	send 202
	for _ in $(seq 200); do
		[ -s "$dir/deploys.log" ] && break
		sleep 0.1
	done
	grep -q ' me/site 0123abc$' "$dir/deploys.log" 2>/dev/null ||
		{ cat "$dir/log" >&2; fail "$target: examples/deploy.sh did not run (no line in deploys.log)"; }
	send 200
	stop
	start "${runner[@]}" "$bin"
	send 200
	stop
	echo "$target: started, took a signed push (202) and ran its deploy, a duplicate (200), stopped, started again on its database: ok"
done
