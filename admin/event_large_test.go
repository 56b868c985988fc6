package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/webhookd/webhookd/tmpl"
)

// largePayload is a JSON body of about n bytes, as a big webhook sends
// it: a long list of small objects, keys in the sender's order.
func largePayload(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","tags":["a","b"],"at":{"x":%d,"y":"zzzzzzzz"}}`, i, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestAPI_EventLargePayload: GET /api/events/{id} of an event whose body
// is tens of MiB (max_body raised for a hook) parsed it into a tree of
// maps and re-encoded it, indented: 25 times the body in memory (a 36
// MiB event took the daemon from 170 MB to 920 MB, and 22 s before the
// answer began, which webhookd show reported as a stuck daemon). A large
// JSON payload is indented from its bytes: the answer is the same JSON
// value, for a third of that.
func TestAPI_EventLargePayload(t *testing.T) {
	e := newEnv(t, "")
	body := largePayload(4 << 20)
	id := e.ingest("site", "push", string(body))

	req := httptest.NewRequest("GET", "/api/events/"+id, nil)
	req.Host = "127.0.0.1"
	// What the daemon allocates to answer, not what a recorder does to
	// keep the answer.
	var sent discardWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.srv.ServeHTTP(&sent, req)
	runtime.ReadMemStats(&after)
	if sent.code != 200 {
		t.Fatalf("GET /api/events/%s = %d", id, sent.code)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a body of %d bytes: an answer of %d bytes, %d bytes allocated", len(body), sent.n, alloc)
	// The tree allocated 39 times the body; json's Encoder, which built
	// the answer and then indented it, growing each buffer as it went,
	// about 14 times (about 6 times live at once); the answer indented
	// as it is written out, the body once (TestAPI_EventWholeBodyMemory).
	if limit := uint64(3 * len(body)); alloc > limit {
		t.Errorf("answering an event of %d bytes allocated %d bytes; want at most %d (3 times the body)", len(body), alloc, limit)
	}
	// Building the answer takes seconds on a Pi: its status goes first,
	// so that a client bounding the wait for an answer to begin (show,
	// 10s) does not take the daemon for stuck.
	if !sent.headFirst {
		t.Errorf("the answer's status and headers were not flushed before its body was built")
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	var got struct{ Payload any }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Payload, want) {
		t.Errorf("the answer's payload is not the body's JSON value")
	}
}

// discardWriter is a ResponseWriter that counts what is written, and
// whether the status was flushed before any of the body.
type discardWriter struct {
	h         http.Header
	code      int
	n         int
	headFirst bool
}

func (d *discardWriter) Flush() {
	if d.code != 0 && d.n == 0 {
		d.headFirst = true
	}
}

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}

func (d *discardWriter) WriteHeader(code int) { d.code = code }

func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	d.n += len(p)
	return len(p), nil
}

// indentFits, over the bytes of a large payload, keeps the bound that
// tmpl.IndentFits keeps over its tree: at every budget, the same answer.
func TestIndentFits_AgreesWithTree(t *testing.T) {
	for _, raw := range []string{
		`{}`, `[]`, `1`, `"s"`, `{"a":1}`, `[1,2,[3,{"b":[]}]]`,
		`{"a":{"b":{"c":[1,2,3]}},"d":{}}`, ` [ {"a\"":"x,y:[]{}\\"} , [ ] ] `,
		`[[[[[[[[1]]]]]]],[[[[2]]]]]`,
	} {
		tree, ok := tmplParse(raw)
		if !ok {
			t.Fatalf("%s: not JSON", raw)
		}
		for max := 0; max < 400; max++ {
			if got, want := indentFits([]byte(raw), 1, max), tmpl.IndentFits(tree, 1, max); got != want {
				t.Errorf("indentFits(%s, 1, %d) = %v; tmpl.IndentFits says %v", raw, max, got, want)
				break
			}
		}
	}
}

func tmplParse(raw string) (any, bool) {
	var v any
	err := json.Unmarshal([]byte(raw), &v)
	return v, err == nil
}

// TestAPI_EventLargeFormNotUTF8: a form over 1 MiB (GitHub's payload=)
// is ASCII, but its payload field, unescaped, may hold bytes that are no
// UTF-8 (%FF). Indented from those bytes, the answer carried them as they
// were: no longer JSON (RFC 8259 is UTF-8), which a strict client refuses.
// The answer is UTF-8, and its payload the field's JSON value.
func TestAPI_EventLargeFormNotUTF8(t *testing.T) {
	e := newEnv(t, "")
	payload := append([]byte(`{"note":"caf`+"\xff"+`","items":`), largePayload(1<<20+10)...)
	payload = append(payload, '}')
	id := e.ingestAs("site", "application/x-www-form-urlencoded", []byte("payload="+url.QueryEscape(string(payload))))

	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/events/"+id, nil)
	req.Host = "127.0.0.1"
	e.srv.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("GET /api/events/%s = %d", id, w.Code)
	}
	if !utf8.Valid(w.Body.Bytes()) {
		i := bytes.IndexByte(w.Body.Bytes(), 0xff)
		t.Fatalf("the answer is not UTF-8 (JSON): %q", w.Body.Bytes()[max(0, i-20):i+5])
	}
	var got struct{ Payload map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Payload["note"] != "caf\ufffd" {
		t.Errorf("payload.note = %q; want %q", got.Payload["note"], "caf\ufffd")
	}
}
