#!/usr/bin/env bash
# What a dependency costs on its own: stripped static linux/amd64 builds of
# a minimal HTTPS server (net/http + crypto/tls, the floor any webhookd
# has), and of the same server plus one dependency used as webhookd uses
# it, at the versions in webhookd's go.mod. The difference is what the
# dependency brings by itself; inside webhookd it is less, as part of what
# it pulls in (reflect, fmt, encoding/*) is there anyway. The last variant,
# "contract", is the floor of any program that does what DESIGN.md asks
# with the libraries it names: every one of them, and the standard
# library parts the contract needs (HTTP server and client, TLS, text and
# HTML templates, JSON, slog), each used once, with nothing of webhookd's
# own.
#
#   scripts/size-variants.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ver() { go list -m -f '{{.Version}}' "$1"; }
# client_golang is no longer in go.mod (webhookd's metrics use
# VictoriaMetrics/metrics); the prometheus variant keeps the version
# webhookd had (the module proxy serves it).
mkdir -p "$tmp/base" "$tmp/prometheus" "$tmp/expr" "$tmp/autocert" "$tmp/contract"
cat >"$tmp/go.mod" <<MOD
module sizevariants
go $(go env GOVERSION | sed 's/^go//')
require (
	github.com/prometheus/client_golang v1.25.0
	github.com/expr-lang/expr $(ver github.com/expr-lang/expr)
	golang.org/x/crypto $(ver golang.org/x/crypto)
	go.etcd.io/bbolt $(ver go.etcd.io/bbolt)
	github.com/BurntSushi/toml $(ver github.com/BurntSushi/toml)
	github.com/fsnotify/fsnotify $(ver github.com/fsnotify/fsnotify)
	github.com/VictoriaMetrics/metrics $(ver github.com/VictoriaMetrics/metrics)
	golang.org/x/time $(ver golang.org/x/time)
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
cat >"$tmp/contract/main.go" <<GO
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	htmltemplate "html/template"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/VictoriaMetrics/metrics"
	"github.com/expr-lang/expr"
	"github.com/fsnotify/fsnotify"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/time/rate"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var cfg map[string]any
	if _, err := toml.DecodeFile(os.Args[1], &cfg); err != nil {
		log.Error("config", "err", err)
	}
	w, _ := fsnotify.NewWatcher()
	w.Add(".")
	db, _ := bolt.Open("x.db", 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { b, _ := tx.CreateBucketIfNotExists([]byte("b")); return b.Put([]byte("k"), []byte("v")) })
	db.View(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { return nil }) })
	prog, _ := expr.Compile(os.Args[2], expr.Env(map[string]any{"event": "", "payload": map[string]any{}}), expr.AsBool())
	t := template.Must(template.New("t").Option("missingkey=zero").Parse(os.Args[3]))
	page := htmltemplate.Must(htmltemplate.New("p").Parse(os.Args[4]))
	requests := metrics.NewCounter("requests_total")
	latency := metrics.NewHistogram("latency_seconds")
	limit := rate.NewLimiter(10, 20)
	m := &autocert.Manager{Prompt: autocert.AcceptTOS, Cache: autocert.DirCache("acme"), HostPolicy: autocert.HostWhitelist("a.example")}
	go http.ListenAndServe(":80", m.HTTPHandler(nil))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{id}", func(rw http.ResponseWriter, r *http.Request) {
		if !limit.Allow() {
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		requests.Inc()
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mac := hmac.New(sha256.New, []byte("secret"))
		ok := hmac.Equal(mac.Sum(nil), []byte(r.Header.Get("X-Hub-Signature-256")))
		v, _ := expr.Run(prog, map[string]any{"event": r.Header.Get("X-GitHub-Event"), "payload": body})
		var sb strings.Builder
		t.Execute(&sb, body)
		if ok && v == true {
			resp, err := http.Post(sb.String(), "application/json", r.Body)
			if err == nil {
				resp.Body.Close()
			}
		}
		latency.Update(1)
	})
	mux.HandleFunc("GET /metrics", func(rw http.ResponseWriter, r *http.Request) { metrics.WritePrometheus(rw, true) })
	mux.HandleFunc("GET /", func(rw http.ResponseWriter, r *http.Request) { page.Execute(rw, r.URL.Query()) })
	s := &http.Server{TLSConfig: m.TLSConfig(), Handler: mux}
	s.ListenAndServeTLS("", "")
}
GO
cd "$tmp"
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
base=0
printf '%-12s %12s %12s\n' variant bytes "+ over base"
for v in base prometheus expr autocert contract; do
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o "$v.bin" "./$v"
	n=$(stat -c %s "$v.bin")
	[ "$v" = base ] && base=$n
	printf '%-12s %12d %12d\n' "$v" "$n" $((n - base))
done
