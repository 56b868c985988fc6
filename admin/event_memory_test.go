package admin

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// wholeBodies are events of about n bytes of each kind the API answers
// with its whole body: a JSON payload over parseUpTo (given as it came),
// GitHub's form of one, text that is no JSON (body: JSON cut short too),
// and bytes that are no UTF-8 (body_base64), JSON or not.
func wholeBodies(n int) []struct {
	name, contentType string
	body              []byte
} {
	var text bytes.Buffer
	for i := 0; text.Len() < n; i++ {
		fmt.Fprintf(&text, "%06d\tline \"%d\" <of> a log & its café\n", i, i)
	}
	bin := make([]byte, n)
	for i := range bin {
		bin[i] = byte(i*7 + i>>8) // 0x80–0xff bytes out of place: no UTF-8
	}
	return []struct {
		name, contentType string
		body              []byte
	}{
		{"json", "application/json", largePayload(n)},
		{"form", "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(largePayload(n*2/3))))},
		{"json, cut short", "application/json", largePayload(n)[:n-100]},
		{"json, not UTF-8", "application/json", append([]byte(`{"note":"caf`+"\xff"+`","items":`), append(largePayload(n), '}')...)},
		{"text", "text/plain", text.Bytes()},
		{"binary", "application/octet-stream", bin},
	}
}

// TestAPI_EventWholeBodyMemory: GET /api/events/{id} of an event of tens
// of MiB built its whole answer in memory, indented, before it sent a
// byte of it: 280 MB of the daemon for an event of 36 MiB, some 2 GB for
// one of max_body's 256 MiB, enough for a Pi's kernel to kill it. The
// daemon copies the body out of its read transaction once and streams
// the answer's encoding of it: what it allocates to answer is about the
// body once, whatever its kind.
//
// To measure (the figures in docs/benchmarks.md):
//
//	go test ./admin -run TestAPI_EventWholeBodyMemory -v -count 1 -args -whole-body-mib 32
func TestAPI_EventWholeBodyMemory(t *testing.T) {
	if raceOn {
		t.Skip("the race detector's own allocations and slowness: measured without it")
	}
	size := *wholeBodyMiB << 20
	e := newEnv(t, "")
	for _, tc := range wholeBodies(size) {
		t.Run(tc.name, func(t *testing.T) {
			id := e.ingestAs("site", tc.contentType, tc.body)
			body := len(tc.body)
			tc.body = nil
			alloc, peak, n := e.fetchMeasured(t, "/api/events/"+id)
			t.Logf("%s body of %.1f MiB: an answer of %.1f MiB; the daemon and its client allocated %.1f MiB (%.2f× the body), heap peak +%.1f MiB",
				tc.name, mib(body), mib(n), mib(int(alloc)), float64(alloc)/float64(body), mib(int(peak)))
			if limit := uint64(3 * body); alloc > limit {
				t.Errorf("answering a %s event of %d bytes allocated %d bytes (%.1f× the body); want at most %d (3 times the body)",
					tc.name, body, alloc, float64(alloc)/float64(body), limit)
			}
		})
	}
}

// wholeBodyMiB is the size of TestAPI_EventWholeBodyMemory's bodies.
var wholeBodyMiB = flag.Int("whole-body-mib", 16, "the size of TestAPI_EventWholeBodyMemory's bodies, in MiB")

func mib(n int) float64 { return float64(n) / (1 << 20) }

// fetchMeasured GETs path over HTTP from the admin server, reading the
// answer as it comes into nothing, and returns the bytes allocated
// meanwhile (the server's, and its client's few buffers), the highest
// the heap's objects rose above where they began (sampled each
// millisecond), and the answer's length.
func (e *env) fetchMeasured(t *testing.T, path string) (alloc, peak uint64, n int) {
	t.Helper()
	client := e.ts.Client()
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
	res, err := client.Get(e.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("GET %s: reading the answer: %v", path, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", path, res.StatusCode)
	}
	return after.TotalAlloc - before.TotalAlloc, high - min(high, base), int(m)
}
