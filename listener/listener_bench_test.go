package listener

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// benchPush is a push payload of about size bytes.
func benchPush(size int) []byte {
	b := []byte(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"id":1,"name":"bench","full_name":"webhookd/bench","private":false,"owner":{"name":"webhookd","login":"webhookd"}},"pusher":{"name":"bench","email":"bench@example.com"},"commits":[`)
	for i := 0; len(b) < size-200; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"%040x","message":"change %d","timestamp":"2026-01-02T03:04:05Z","author":{"name":"a","email":"a@example.com"},"added":[],"removed":[],"modified":["README.md"]}`, i, i)
	}
	return append(b, `],"head_commit":null}`...)
}

func benchSign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// stubStore answers every Ingest at once: the seam that leaves the
// listener's own work (read, verify, plan, answer) to measure.
type stubStore struct{}

func (stubStore) Ingest(ctx context.Context, ne *store.NewEvent) (store.IngestResult, error) {
	return store.IngestResult{ID: "06H0000000000000", Jobs: len(ne.Jobs)}, nil
}

// BenchmarkServeHTTP is the listener's CPU per delivery without the store:
// a signed 2 KiB GitHub push through ServeHTTP (limits, read, verify, plan,
// header copy, answer, info log line), with a when over the payload (which
// parses it) and with an action that has none.
func BenchmarkServeHTTP(b *testing.B) {
	for _, tc := range []struct{ name, when string }{
		{"when=payload", `event == "push" && payload.ref == "refs/heads/release"`},
		{"when=event", `event == "release"`},
		{"when=none", ""},
	} {
		b.Run(tc.name, func(b *testing.B) { benchServeHTTP(b, tc.when) })
	}
}

func benchServeHTTP(b *testing.B, whenText string) {
	p, err := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(ghSecret)}})
	if err != nil {
		b.Fatal(err)
	}
	a := &actions.Action{Hook: "bench", Name: "deploy", Concurrency: 1}
	if whenText != "" {
		if a.When, err = tmpl.Compile(whenText); err != nil {
			b.Fatal(err)
		}
	}
	acfg := actions.NewConfig([]*actions.Action{a})
	hook := &Hook{ID: "bench", Path: "/hooks/bench", Provider: p, Events: map[string]bool{"push": true}, MaxBody: 1 << 20,
		Plan: func(d *tmpl.Data) []store.NewJob { return acfg.Plan("bench", d) }}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := New(Options{Store: stubStore{}, Logger: log}, &Config{Hooks: []*Hook{hook}})
	body := benchPush(2 << 10)
	sig := benchSign(ghSecret, body)
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/hooks/bench", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "GitHub-Hookshot/6a2f3b1")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012x", i))
		r.Header.Set("X-GitHub-Hook-ID", "123456789")
		r.Header.Set("X-Hub-Signature-256", sig)
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		l.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
}

// cpuTime is the process's user and system CPU time: on a machine shared
// with other work it measures cost where wall time measures contention.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
