package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkBulkReplay measures POST /api/replay: per event replayed (one
// fsynced commit each, in arrival order).
func BenchmarkBulkReplay(b *testing.B) {
	e := newBenchEnv(b)
	for i := range b.N {
		e.ingest("site", "push", fmt.Sprintf(`{"n":%d}`, i))
	}
	b.ResetTimer()
	start := time.Now()
	res, err := http.Post(e.ts.URL+"/api/replay?hook=site", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b.StopTimer()
	if !strings.Contains(string(body), fmt.Sprintf(`"replayed": %d`, b.N)) && !strings.Contains(string(body), fmt.Sprintf(`"replayed":%d`, b.N)) {
		b.Fatalf("bulk replay of %d events: %s", b.N, body[max(0, len(body)-300):])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEventsPage measures rendering the dashboard's events list (50
// events, each with two jobs).
func BenchmarkEventsPage(b *testing.B) {
	e := newBenchEnv(b)
	for i := range 200 {
		e.ingest("site", "push", fmt.Sprintf(`{"n":%d}`, i))
	}
	client := e.ts.Client()
	b.ResetTimer()
	for range b.N {
		res, err := client.Get(e.ts.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("GET / = %d", res.StatusCode)
		}
	}
}

func newBenchEnv(b *testing.B) *env {
	b.Helper()
	e := newEnvTB(b, "", exec("site", "deploy", "", "true"), exec("site", "notify", "", "true"))
	for _, a := range []string{"deploy", "notify"} {
		if err := e.sched.SetPaused(context.Background(), "site", a, true); err != nil {
			b.Fatal(err)
		}
	}
	return e
}
