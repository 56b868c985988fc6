#!/usr/bin/env bash
# Checks what scripts/release.sh made: the four binaries exist, are static
# ELF executables for the right machine (and, for 32-bit ARM, built for the
# right ARM version), carry the version and commit, and match SHA256SUMS.
#
#   scripts/check-release.sh DIST VERSION [COMMIT]
set -euo pipefail
dist=$1 version=$2 commit=${3:-}
fail() { echo "check-release: $*" >&2; exit 1; }

[ -f "$dist/SHA256SUMS" ] || fail "no $dist/SHA256SUMS"
(cd "$dist" && sha256sum --quiet -c SHA256SUMS) || fail "checksums do not verify"
[ "$(wc -l <"$dist/SHA256SUMS")" -eq 4 ] || fail "SHA256SUMS should list 4 files"

if [ -z "$commit" ]; then # as release.sh stamps it without $COMMIT
	commit=$(git rev-parse HEAD)
	if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
		commit="$commit-dirty"
	fi
fi
for target in amd64 arm64 armv6 armv7; do
	bin="$dist/webhookd-$version-linux-$target"
	[ -x "$bin" ] || fail "$bin missing"
	desc=$(file -b "$bin")
	case $target in
	amd64) want="ELF 64-bit LSB executable, x86-64" ;;
	arm64) want="ELF 64-bit LSB executable, ARM aarch64" ;;
	armv6 | armv7) want="ELF 32-bit LSB executable, ARM, EABI5" ;;
	esac
	[[ $desc == "$want"* ]] || fail "$bin: file says '$desc'; want '$want'"
	[[ $desc == *"statically linked"* ]] || fail "$bin is not statically linked: $desc"
	[[ $desc == *"stripped"* && $desc != *"not stripped"* ]] || fail "$bin is not stripped: $desc"
	readelf -l "$bin" | grep -q INTERP && fail "$bin asks for a dynamic loader"
	info=$(go version -m "$bin")
	grep -q "CGO_ENABLED=0" <<<"$info" || fail "$bin: built with cgo"
	# -trimpath keeps -ldflags out of the build info: look for the strings.
	grep -qaF "$version" "$bin" || fail "$bin: version $version not stamped"
	grep -qaF "$commit" "$bin" || fail "$bin: commit $commit not stamped"
	case $target in
	armv6) grep -q "GOARM=6" <<<"$info" || fail "$bin: not built for ARMv6" ;;
	armv7) grep -q "GOARM=7" <<<"$info" || fail "$bin: not built for ARMv7" ;;
	esac
	echo "ok $bin: $desc"
done
# The one this machine can run says what it is.
out=$("$dist/webhookd-$version-linux-amd64" version)
[[ $out == "webhookd $version (commit $commit"* ]] || fail "webhookd version printed '$out'"
echo "ok webhookd version: $out"
