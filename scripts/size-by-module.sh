#!/usr/bin/env bash
# What each module costs in the webhookd binary: the bytes of machine code
# (.text) and read-only data (.rodata) its symbols take, from
# `go tool nm -size -type` on an unstripped static linux/amd64 build, and
# an estimate of its share of the stripped file (.text's share also sizes
# .gopclntab, the function tables, which grow with the code).
#
#   scripts/size-by-module.sh [GOARCH]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -o "$tmp/full" .
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$tmp/stripped" .
# package -> module (std for the standard library)
go list -deps -f '{{.ImportPath}} {{with .Module}}{{.Path}}{{else}}std{{end}}' . >"$tmp/pkgs"
go tool nm -size -type "$tmp/full" >"$tmp/nm"
stripped=$(stat -c %s "$tmp/stripped")
# .gopclntab (function tables) grows with the code: spread it over .text.
read -r texthex pclnhex < <(readelf -S -W "$tmp/stripped" | awk '
	{ for (i = 1; i <= NF; i++) { if ($i == ".text") t = $(i + 4); if ($i == ".gopclntab") p = $(i + 4) } }
	END { print t, p }')
text=$((16#$texthex)) pcln=$((16#$pclnhex))
awk -v stripped="$stripped" -v textsec="$text" -v pcln="$pcln" '
	NR == FNR { mod[$1] = $2; next }
	{
		size = $2; type = $3; name = $4
		if (type != "T" && type != "t" && type != "R" && type != "r") next
		sub(/^(type:|go:itab\.)/, "", name); gsub(/[*(]/, "", name)
		# the longest known package path that prefixes the name
		best = ""
		n = split(name, parts, "/")
		path = ""
		for (i = 1; i <= n; i++) {
			c = parts[i]
			if (i > 1 || c !~ /^[a-z0-9-]+\.[a-z]+$/) sub(/\..*$/, "", c) # keep github.com
			p = (i == 1 ? c : path "/" c)
			if (p in mod && length(p) > length(best)) best = p
			path = (i == 1 ? parts[i] : path "/" parts[i])
		}
		m = (best == "" ? "(unattributed: strings, type data, closures)" : mod[best])
		if (type == "T" || type == "t") { text[m] += size; ptext[best] += size } else ro[m] += size
		all[m] = 1
	}
	END {
		printf "stripped binary: %d bytes (%.1f MiB); .text %.1f MiB, .gopclntab %.1f MiB\n", stripped, stripped / 1048576, textsec / 1048576, pcln / 1048576
		printf "%-46s %9s %9s %14s\n", "module", "code KiB", "rodata KiB", "code+tables KiB"
		for (m in all)
			printf "%-46s %9.0f %9.0f %14.0f\n", m, text[m] / 1024, ro[m] / 1024, text[m] * (1 + pcln / textsec) / 1024 | "sort -k4 -n -r"
		close("sort -k4 -n -r")
		printf "\nthe 25 largest packages by code\n%-46s %9s %14s\n", "package", "code KiB", "code+tables KiB"
		for (p in ptext)
			printf "%-46s %9.0f %14.0f\n", (p == "" ? "(unattributed)" : p), ptext[p] / 1024, ptext[p] * (1 + pcln / textsec) / 1024 | "sort -k3 -n -r | head -25"
	}' "$tmp/pkgs" "$tmp/nm"
