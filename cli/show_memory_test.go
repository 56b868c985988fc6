package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
)

// showBodyMiB is the size of TestShow_WholeBodyMemory's bodies.
var showBodyMiB = flag.Int("show-body-mib", 16, "the size of TestShow_WholeBodyMemory's bodies, in MiB")

// TestShow_WholeBodyMemory: show of an event of tens of MiB decoded the
// daemon's whole answer (json.Decoder holds all of it, then each value
// its copy), indented its payload into another buffer and then copied
// that with each line indented again: about 12 times the body, for JSON,
// text and bytes alike; -json encoded the event whole and indented it
// again. show reads the answer as it comes and keeps the payload or body
// once, then prints it as it indents it (-json: as the daemon answers, a
// piece at a time).
//
// To measure (the figures in docs/benchmarks.md):
//
//	go test ./cli -run TestShow_WholeBodyMemory -v -count 1 -args -show-body-mib 32
func TestShow_WholeBodyMemory(t *testing.T) {
	size := *showBodyMiB << 20
	var js, text bytes.Buffer
	js.WriteString(`{"items":[`)
	for i := 0; js.Len() < size; i++ {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"id":%d,"name":"item %d","tags":["a","b"],"at":{"x":%d,"y":"zzzzzzzz"}}`, i, i, i)
	}
	js.WriteString(`]}`)
	for i := 0; text.Len() < size; i++ {
		fmt.Fprintf(&text, "%06d\tline \"%d\" <of> a log & its café\n", i, i)
	}
	bin := make([]byte, size)
	for i := range bin {
		bin[i] = byte(i*7 + i>>8)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	daemon := admin.New(admin.Options{Addr: "127.0.0.1:0", Store: st, Logger: log})
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"json", "application/json", js.Bytes()},
		{"text", "text/plain", text.Bytes()},
		{"binary", "application/octet-stream", bin},
	} {
		res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(),
			ContentType: tc.contentType, Header: http.Header{"Content-Type": {tc.contentType}}, Body: tc.body})
		if err != nil {
			t.Fatal(err)
		}
		// The daemon's answer, made beforehand and served as it is: what
		// is measured is the command's.
		req := httptest.NewRequest("GET", "/api/events/"+res.ID, nil)
		req.Host = "127.0.0.1"
		w := httptest.NewRecorder()
		daemon.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("GET /api/events/%s = %d", res.ID, w.Code)
		}
		answer := w.Body.Bytes()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer)
		}))
		_, cfg := adminConfig(t, srv.Listener.Addr().String())
		for _, args := range [][]string{{res.ID}, {"-json", res.ID}} {
			var out countWriter
			env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			var err error
			alloc, peak := measureAlloc(func() { err = Find("show").Run(context.Background(), env, append(args, "-config", cfg)) })
			if err != nil {
				t.Fatalf("show %q: %v", args, err)
			}
			body := len(tc.body)
			t.Logf("show %v of a %s body of %.1f MiB (an answer of %.1f MiB, %.1f MiB out): allocated %.1f MiB (%.2f× the body), heap peak +%.1f MiB",
				args[:len(args)-1], tc.name, mib(body), mib(len(answer)), mib(out.n), mib(int(alloc)), float64(alloc)/float64(body), mib(int(peak)))
			if limit := uint64(3 * body); alloc > limit {
				t.Errorf("show %q of a %s body of %d bytes allocated %d bytes (%.1f× the body); want at most %d (3 times the body)",
					args[:len(args)-1], tc.name, body, alloc, float64(alloc)/float64(body), limit)
			}
		}
		srv.Close()
	}
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// measureAlloc runs f and returns the bytes allocated meanwhile, and the
// highest the heap's objects rose above where they began (sampled each
// millisecond).
func measureAlloc(f func()) (alloc, peak uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	runtime.GC()
	base := heap()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var high uint64
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			high = max(high, heap())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()
	return after.TotalAlloc - before.TotalAlloc, high - min(high, base)
}
