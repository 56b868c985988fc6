package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
)

// largeEventAnswer stores an event whose JSON body is about n bytes in a
// real store and returns its id, the body, and GET /api/events/{id}'s
// answer as the daemon gives it.
func largeEventAnswer(t *testing.T, n int) (id string, body, answer []byte) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","tags":["a","b"],"at":{"x":%d,"y":"zzzzzzzz"}}`, i, i, i)
	}
	b.WriteString(`]}`)
	body = b.Bytes()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(),
		ContentType: "application/json", Header: http.Header{"Content-Type": {"application/json"}}, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.New(admin.Options{Addr: "127.0.0.1:0", Store: st, Logger: log})
	req := httptest.NewRequest("GET", "/api/events/"+res.ID, nil)
	req.Host = "127.0.0.1"
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("GET /api/events/%s = %d %s", res.ID, w.Code, w.Body)
	}
	return res.ID, body, w.Body.Bytes()
}

// TestShow_LargeEvent: show of an event of tens of MiB decoded its
// payload into a tree of maps and indented that again: a 36 MiB event
// took the command 740 MB and 23 s (-json: 780 MB). The payload is kept
// as the bytes that came, and indented from them; -json prints the same
// JSON value.
func TestShow_LargeEvent(t *testing.T) {
	id, body, answer := largeEventAnswer(t, 4<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	_, cfg := adminConfig(t, srv.Listener.Addr().String())
	for _, args := range [][]string{{id}, {"-json", id}} {
		args = append(args, "-config", cfg)
		// What the command allocates, not what a buffer does to keep
		// its output: that is checked on a second run.
		var sent countWriter
		env := &Env{Stdin: strings.NewReader(""), Stdout: &sent, Stderr: io.Discard, Getenv: func(string) string { return "" }}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := Find("show").Run(context.Background(), env, args)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("show %q: %v", args, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("show %q of a body of %d bytes (an answer of %d): %d bytes out, %d bytes allocated", args, len(body), len(answer), sent.n, alloc)
		// The tree cost 59 times the body (-json: 46); reading the
		// answer, indenting and writing it, each in a buffer that grew
		// as it went, 16 (-json: 23); the payload kept once, and
		// indented as it is written, about 1 (TestShow_WholeBodyMemory).
		if limit := uint64(3 * len(body)); alloc > limit {
			t.Errorf("show %q of a body of %d bytes allocated %d bytes; want at most %d (3 times the body)", args, len(body), alloc, limit)
		}
		stdout, _, err := runCmd(t, "show", args...)
		if err != nil {
			t.Fatalf("show %q: %v", args, err)
		}
		if args[0] != "-json" {
			if !strings.Contains(stdout, "\npayload\n  {\n    \"items\": [\n      {\n        \"id\": 0,") {
				t.Errorf("show of a large JSON event prints %.300q…; want its payload indented, keys in the sender's order", stdout)
			}
			continue
		}
		var got struct{ Payload any }
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("show -json: %v", err)
		}
		var want any
		json.Unmarshal(body, &want)
		if !reflect.DeepEqual(got.Payload, want) {
			t.Errorf("show -json: the payload is not the body's JSON value")
		}
	}
}

// countWriter counts what is written to it.
type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// TestShow_PayloadAsSent: the daemon's JSON escapes <, > and & (\u003c);
// show printed a payload's text as sent ("a & b"), and must go on doing
// so now that it indents the payload from the bytes of the answer.
func TestShow_PayloadAsSent(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	body := `{"text":"a & b <c> \u003e \\u0026 é"}`
	res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(),
		ContentType: "application/json", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(admin.Options{Addr: "127.0.0.1:0", Store: st, Logger: log}))
	t.Cleanup(srv.Close)
	_, cfg := adminConfig(t, srv.Listener.Addr().String())
	stdout, _, err := runCmd(t, "show", res.ID, "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"text": "a & b <c> > \\u0026 é"`; !strings.Contains(stdout, want) {
		t.Errorf("show prints:\n%s\nwant the payload's text as sent: %s", stdout, want)
	}
}

// TestPrintEvent_LimitKeepsEdges: show's cut on a terminal dropped the
// line that ends at the limit (it fits: its newline is not shown), and of
// a body that is not UTF-8, bytes that start no character (\x80…) were
// walked back to nothing: "0 B of 200 B shown". The admin package's cut
// keeps both (a3c7ae8, textcut).
func TestPrintEvent_LimitKeepsEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *admin.EventJSON
		want string
	}{
		{"line ending at the limit", &admin.EventJSON{Body: "aaaa\nbbbb\ncccc"}, "  aaaa\n  bbbb\n  … 9 B of 14 B shown"},
		{"not UTF-8", &admin.EventJSON{BodyBase64: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x80}, 200))},
			"  " + strings.Repeat(`\x80`, 9) + "\n  … 9 B of 200 B shown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.ID, tc.ev.Hook = "06H4WK95M0000000", "site"
			var out bytes.Buffer
			printEvent(&safeWriter{w: &out}, tc.ev, 9)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("printEvent with a limit of 9:\n%s\nwant it to hold:\n%s", out.String(), tc.want)
			}
		})
	}
}
