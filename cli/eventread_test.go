package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
)

// readers are ways an answer arrives: whole, a byte at a time, in halves.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":   func(r io.Reader) io.Reader { return r },
	"bytes":   iotest.OneByteReader,
	"halves":  iotest.HalfReader,
	"dataEOF": iotest.DataErrReader,
}

// jsonStrings are the bodies of JSON strings with every escape, character
// and byte that is no UTF-8.
var jsonStrings = []string{
	``, `a`, `\"\\\/\b\f\n\r\t`, `\u0000\u001f\u007F\u00e9\u20AC`, `\ud83d\ude00`, `\uD83D\uDE00x`,
	`\ud83d`, `\ud83dx`, `\ude00\ud83d`, `\ud83d\u0041`, `\ud83d\ud83d\ude00`, "caf\u00e9 \U0001F600 \u2028",
	"\xff", "a\xe2\x80", "\xed\xa0\x80", "\xef\xbf\xbd", `\u003c\u003e\u0026`, strings.Repeat(`é\n`, 40000) + "\xf0\x9f",
	`\u12`, `\x`, "\x01", `\`, "\x7f",
}

// TestAnswerReader_Str: a JSON string's text, read as it comes, is what
// json.Unmarshal makes of it, whatever pieces it comes in; what
// json.Unmarshal refuses, str refuses.
func TestAnswerReader_Str(t *testing.T) {
	for _, s := range jsonStrings {
		for how, r := range readers {
			checkStr(t, how, r, s)
		}
	}
}

func checkStr(t *testing.T, how string, r func(io.Reader) io.Reader, s string) {
	t.Helper()
	lit := `"` + s + `"`
	var want string
	wantErr := json.Unmarshal([]byte(lit), &want)
	d := &answerReader{r: r(strings.NewReader(lit + ",")), buf: make([]byte, 64)}
	if c, err := d.next(); err != nil || c != '"' {
		t.Fatalf("%q: %q, %v", lit, c, err)
	}
	var sb strings.Builder
	err := d.str(&sb)
	rest, _ := io.ReadAll(io.MultiReader(bytes.NewReader(d.buf[d.i:d.n]), d.r))
	switch {
	case wantErr != nil && err == nil && string(rest) == ",":
		t.Errorf("%s: str of %.60q = %.60q; json.Unmarshal: %v", how, lit, sb.String(), wantErr)
	case wantErr == nil && err != nil:
		t.Errorf("%s: str of %.60q: %v; json.Unmarshal: %.60q", how, lit, err, want)
	case wantErr == nil && (sb.String() != want || string(rest) != ","):
		t.Errorf("%s: str of %.60q = %.60q, then %q; want %.60q (json.Unmarshal's), then \",\"", how, lit, sb.String(), rest, want)
	}
}

func FuzzAnswerReader_Str(f *testing.F) {
	for _, s := range jsonStrings[:20] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkStr(t, "halves", iotest.HalfReader, s)
	})
}

// TestReadEvent_AsDecoder: readEvent, which holds a large payload or body
// once, makes of the daemon's answer what json.Decoder did: the event, its
// payload the same JSON value, and its body the same text; in whatever
// pieces the answer comes.
func TestReadEvent_AsDecoder(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := admin.New(admin.Options{Addr: "127.0.0.1:0", Store: st, Logger: log})
	big := strings.Repeat(`{"a":"<b> & \u2028 \ud83d\ude00 é","n":[1,2.5e3,{}],"e":[]},`, 30000)
	for _, tc := range []struct{ name, contentType, body string }{
		{"small JSON", "application/json", `{"ref":"main","x":"<&>","n":1.50}`},
		{"large JSON", "application/json", "[" + big + "0]"},
		{"large text", "text/plain", strings.Repeat("line <1> \"q\" \\ \t\x01 é 😀 \u2028\n", 40000)},
		{"small bytes", "application/octet-stream", "\xff\xfe"},
		{"large bytes", "application/octet-stream", strings.Repeat("\xff\x00bytes", 200000)},
		{"no body", "", ""},
	} {
		res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(), Query: "q=1",
			ContentType: tc.contentType, Header: http.Header{"Content-Type": {tc.contentType}, "X-A": {"b"}}, Body: []byte(tc.body)})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/api/events/"+res.ID, nil)
		req.Host = "127.0.0.1"
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		answer := w.Body.Bytes()

		var want struct {
			admin.EventJSON
			Payload json.RawMessage `json:"payload,omitempty"`
		}
		if err := json.NewDecoder(bytes.NewReader(answer)).Decode(&want); err != nil {
			t.Fatal(err)
		}
		for how, r := range readers {
			got, err := readEvent(r(bytes.NewReader(answer)))
			if err != nil {
				t.Fatalf("%s, read %s: %v", tc.name, how, err)
			}
			gotPayload, _ := got.Payload.(json.RawMessage)
			if !sameValue(t, gotPayload, want.Payload) {
				t.Errorf("%s, read %s: payload %.80s…; want %.80s…", tc.name, how, gotPayload, want.Payload)
			}
			got.Payload = nil
			if !reflect.DeepEqual(*got, want.EventJSON) {
				t.Errorf("%s, read %s: %+.300v\nwant %+.300v", tc.name, how, *got, want.EventJSON)
			}
		}
	}
}

// sameValue reports whether a and b are the same JSON value (or both
// none).
func sameValue(t *testing.T, a, b []byte) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestReadEvent_CutOrWrong: an answer cut anywhere, or that is no event,
// is an error, never a panic or an event made up of what came.
func TestReadEvent_CutOrWrong(t *testing.T) {
	answer := `{
  "id": "06H4WK95M0000000",
  "hook": "site",
  "size": 12,
  "payload": {
    "a": [1, "x\"y", {}, true, null],
    "b": "\u003c\ud83d\ude00"
  },
  "body": "t\u00e9",
  "jobs": []
}
`
	if _, err := readEvent(strings.NewReader(answer)); err != nil {
		t.Fatal(err)
	}
	for i := range len(answer) - 2 { // the object ends 2 bytes before
		if ev, err := readEvent(strings.NewReader(answer[:i])); err == nil {
			t.Errorf("readEvent of the answer cut at %d (%q) = %+v; want an error", i, answer[:i], ev)
		}
	}
	for _, s := range []string{`[]`, `"x"`, `<html>`, `{"id":1}`, `{"payload":[1,}`, `{"payload":{"a" 1}}`, `{"body":1}`, `{"body":"\x"}`, `{"a" "b"}`, `{"a":1 "b":2}`, `{,}`} {
		if ev, err := readEvent(strings.NewReader(s)); err == nil {
			t.Errorf("readEvent(%q) = %+v; want an error", s, ev)
		}
	}
	if ev, err := readEvent(strings.NewReader(`{"id":"x","body":null,"payload":null}`)); err != nil || ev.Body != "" || string(ev.Payload.(json.RawMessage)) != "null" {
		t.Errorf("readEvent of a null body and payload: %+v, %v", ev, err)
	}
}
