#!/usr/bin/env bash
# What a dependency costs on its own: stripped static linux/amd64 builds of
# a minimal HTTPS server (net/http + crypto/tls, the floor any webhookd
# has), and of the same server plus one dependency used as webhookd uses
# it, at the versions in webhookd's go.mod. The difference is what the
# dependency brings by itself; inside webhookd it is less, as part of what
# it pulls in (reflect, fmt, encoding/*) is there anyway.
#
#   scripts/size-variants.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ver() { go list -m -f '{{.Version}}' "$1"; }
mkdir -p "$tmp/base" "$tmp/prometheus" "$tmp/expr" "$tmp/autocert"
cat >"$tmp/go.mod" <<MOD
module sizevariants
go $(go env GOVERSION | sed 's/^go//')
require (
	github.com/prometheus/client_golang $(ver github.com/prometheus/client_golang)
	github.com/expr-lang/expr $(ver github.com/expr-lang/expr)
	golang.org/x/crypto $(ver golang.org/x/crypto)
)
MOD
cp "$root/go.sum" "$tmp/"
server='s := &http.Server{TLSConfig: tlsConfig, Handler: handler}; s.ListenAndServeTLS("", "")'
cat >"$tmp/base/main.go" <<GO
package main

import ("crypto/tls"; "net/http")

func main() {
	tlsConfig := &tls.Config{}
	handler := http.NotFoundHandler()
	$server
}
GO
cat >"$tmp/prometheus/main.go" <<GO
package main

import (
	"crypto/tls"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"l"}),
		prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h"}))
	tlsConfig := &tls.Config{}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	$server
}
GO
cat >"$tmp/expr/main.go" <<GO
package main

import (
	"crypto/tls"
	"net/http"
	"os"

	"github.com/expr-lang/expr"
)

func main() {
	p, _ := expr.Compile(os.Args[1], expr.Env(map[string]any{"event": ""}), expr.AsBool())
	v, _ := expr.Run(p, map[string]any{"event": os.Args[2]})
	tlsConfig := &tls.Config{}
	handler := http.NotFoundHandler()
	if v == true {
		$server
	}
}
GO
cat >"$tmp/autocert/main.go" <<GO
package main

import (
	"net/http"

	"golang.org/x/crypto/acme/autocert"
)

func main() {
	m := &autocert.Manager{Prompt: autocert.AcceptTOS, Cache: autocert.DirCache("acme"), HostPolicy: autocert.HostWhitelist("a.example")}
	go http.ListenAndServe(":80", m.HTTPHandler(nil))
	tlsConfig := m.TLSConfig()
	handler := http.NotFoundHandler()
	$server
}
GO
cd "$tmp"
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
base=0
printf '%-12s %12s %12s\n' variant bytes "+ over base"
for v in base prometheus expr autocert; do
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o "$v.bin" "./$v"
	n=$(stat -c %s "$v.bin")
	[ "$v" = base ] && base=$n
	printf '%-12s %12d %12d\n' "$v" "$n" $((n - base))
done
