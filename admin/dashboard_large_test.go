package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	stdjson "encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// ingestAs stores an event of hook with a body of the given content type,
// as the listener would.
func (e *env) ingestAs(hook, contentType string, body []byte) string {
	e.t.Helper()
	res, err := e.st.Ingest(context.Background(), &store.NewEvent{
		Hook: hook, Type: "push", Received: time.Now(), Remote: "192.0.2.7", ContentType: contentType,
		Header: http.Header{"Content-Type": {contentType}}, Body: body,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.ID
}

// servePage serves GET path from the admin server itself (no loopback
// client, whose buffers would count) and returns the answer and the bytes
// the daemon allocated to make it.
func (e *env) servePage(path string) (*httptest.ResponseRecorder, uint64) {
	e.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = "127.0.0.1"
	w := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.srv.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.Code != 200 {
		e.t.Fatalf("GET %s = %d\n%.2000s", path, w.Code, w.Body)
	}
	return w, after.TotalAlloc - before.TotalAlloc
}

// TestDashboard_EventLargePayload: the event page of an event of a few
// MiB (max_body goes up to 256 MiB) put all of its payload into the page,
// indented and escaped: 13 MB of HTML for 4 MiB of JSON, and for 36 MiB
// 115 MB, 7.5 s and 460 MB more memory; a body that is not text was
// wrapped into lines by copying all of it once a line, 300 s for 4 MiB.
// The page shows the first 64 KiB, says how much that is of how much, and
// where all of it is; what it costs does not grow with the body.
func TestDashboard_EventLargePayload(t *testing.T) {
	e := newEnv(t, "")
	json := largePayload(4 << 20)
	bin := make([]byte, 4<<20)
	rand.Read(bin)
	bin[0] = 0xff // not UTF-8 from the first byte
	text := []byte(strings.Repeat("a line of text, long enough to be a line of a log\n", 4<<20/50))
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		want              string // in the shown payload
	}{
		{"json", "application/json", json, `"name": "item 0",`},
		{"form", "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(json))), `"name": "item 0",`},
		{"binary", "application/octet-stream", bin, "Not text"},
		{"text", "text/plain", text, "a line of text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.ingestAs("site", tc.contentType, tc.body)
			w, alloc := e.servePage("/events/" + id)
			page := w.Body.String()
			t.Logf("a body of %d bytes: a page of %d bytes, %d bytes allocated", len(tc.body), len(page), alloc)
			if !strings.Contains(html.UnescapeString(page), tc.want) {
				t.Errorf("the page lacks %q", tc.want)
			}
			// 64 KiB of text, escaped: a quote is 5 bytes (&#34;).
			if len(page) > 256<<10 {
				t.Errorf("the page of an event of %d bytes is %d bytes; want at most 256 KiB", len(tc.body), len(page))
			}
			if alloc > 4<<20 {
				t.Errorf("the page of an event of %d bytes allocated %d bytes; want at most 4 MiB", len(tc.body), alloc)
			}
			for _, want := range []string{
				"Only its first 64 KiB are shown, of a body of " + humanBytes(int64(len(tc.body))),
				"webhookd show " + id + " -json",
				`href="/api/events/` + id + `"`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}
}

// indentHead, given all of a JSON text, indents it as json.Indent does;
// given its start, it stops at its limit, after a whole line.
func TestIndentHead_AgreesWithIndent(t *testing.T) {
	for _, raw := range []string{
		`{}`, `[]`, `1`, `"s"`, `{"a":1}`, `[1,2,[3,{"b":[ ]}]]`, ` { "a" : { } , "b" : [ 1 , 2 ] } `,
		`{"a":{"b":{"c":[1,2,3]}},"d":{}}`, ` [ {"a\"":"x,y:[]{}\\"} , [ ] ] `, `[[[[[[[[1]]]]]]],[[[[2]]]]]`,
	} {
		var want bytes.Buffer
		if err := stdjson.Indent(&want, []byte(strings.TrimSpace(raw)), "", "  "); err != nil {
			t.Fatal(err)
		}
		if got, whole, ok := indentHead([]byte(raw), 1<<10); string(got) != want.String() || !whole || !ok {
			t.Errorf("indentHead(%s) = %s, %v, %v; want %s, true, true", raw, got, whole, ok, want.String())
		}
	}
	big := largePayload(1 << 20)
	var all bytes.Buffer
	stdjson.Indent(&all, big, "", "  ")
	got, whole, ok := indentHead(big, 1000)
	if len(got) > 1000 || whole || !ok || !bytes.HasPrefix(all.Bytes(), append(got, '\n')) {
		t.Errorf("indentHead(1 MiB, 1000) = %d bytes ending %q, %v, %v; want at most 1000, whole lines of json.Indent's", len(got), got[max(0, len(got)-40):], whole, ok)
	}
	if _, _, ok := indentHead([]byte(strings.Repeat("[", 100000)), pageShow); ok {
		t.Errorf("indentHead of a text nested 100,000 deep: ok; want it shown as it came")
	}
}
