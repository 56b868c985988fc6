#!/usr/bin/env bash
# Release build: static webhookd binaries for linux amd64, arm64, armv6
# (Raspberry Pi Zero and 1) and armv7 (Raspberry Pi 2 and later on a
# 32-bit OS), with the version and commit stamped in, stripped, and a
# SHA256SUMS file to verify them with.
#
#   scripts/release.sh [VERSION]
#
# VERSION defaults to $VERSION, then `git describe --tags --always --dirty`;
# the commit to $COMMIT, then the checkout's (with -dirty if it has changes).
# The binaries go to $DIST (default dist/) as webhookd-VERSION-linux-ARCH.
# Check a download with: sha256sum -c --ignore-missing SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ -z "${COMMIT:-}" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
dist=${DIST:-dist}
mkdir -p "$dist"
rm -f "$dist"/webhookd-*-linux-* "$dist"/SHA256SUMS

ldflags="-s -w -X main.version=$version -X main.commit=$commit"
for target in amd64 arm64 armv6 armv7; do
	arch=$target arm=
	case $target in
	armv6) arch=arm arm=6 ;;
	armv7) arch=arm arm=7 ;;
	esac
	out="$dist/webhookd-$version-linux-$target"
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=$arm \
		go build -trimpath -ldflags "$ldflags" -o "$out" .
	printf '%-40s %8s KiB\n' "$out" $(( $(stat -c %s "$out") / 1024 ))
done
(cd "$dist" && sha256sum webhookd-"$version"-linux-* >SHA256SUMS)
echo "$dist/SHA256SUMS"
