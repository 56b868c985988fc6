package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// answerBodies are bodies of every way an event's answer carries one,
// small and over parseUpTo, with what encoding/json escapes in them.
func answerBodies() []struct{ name, contentType, body string } {
	big := string(largePayload(parseUpTo + 4096))
	spaced := strings.ReplaceAll(strings.ReplaceAll(big, `,`, " ,\n\t"), `"name":"item`, `"name" : "<b>item & \u003c \u2028`+"\u2029"+` \"q\" \\`)
	text := strings.Repeat("a line <of> text & \"quotes\" \\ \t\x01\x7f \u2028 café 😀\n", parseUpTo/40)
	bin := strings.Repeat("\xff\xfe\x00bytes\x80", parseUpTo/8)
	return []struct{ name, contentType, body string }{
		{"small JSON", "application/json", `{"ref":"refs/heads/main","text":"<a & b> \u2028 caf\u00e9 é","n":[1,2.50,1e3],"o":{}}`},
		{"large JSON", "application/json", big},
		{"large JSON, escapes and spaces", "application/json", " \n" + spaced + "\n "},
		{"large JSON too deep to indent", "application/json", strings.Repeat("[", parseUpTo/2+1) + strings.Repeat("]", parseUpTo/2+1)},
		{"large JSON, not UTF-8", "application/json", `{"note":"caf` + "\xff" + `","items":` + big + `}`},
		{"large JSON, cut short", "application/json", big[:len(big)-100]},
		{"large JSON lines", "application/x-ndjson", big + "\n" + big},
		{"large form, cut short", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(big[:len(big)-100])},
		{"small form", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"a":"<b>"}`)},
		{"large form", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(spaced)},
		{"large form of fields", "application/x-www-form-urlencoded", "a=1&b=" + url.QueryEscape(text)},
		{"small text", "text/plain", "hello <world> & \"you\"\n"},
		{"large text", "text/plain", text},
		{"small bytes", "application/octet-stream", "\xff\x00\x01"},
		{"large bytes", "application/octet-stream", bin},
		{"no body", "", ""},
	}
}

// TestAPI_EventAnswerAsEncoder: GET /api/events/{id} streams its payload
// or body into the answer; the answer is byte for byte what it was when
// json.Encoder built it whole (EventDetail, indented): with headers,
// query, jobs and runs around it. WriteEvent, which webhookd show -json
// uses, writes the same.
func TestAPI_EventAnswerAsEncoder(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", `printf 'out <&> \342\200\250 "q"\n\001'`))
	for _, tc := range answerBodies() {
		t.Run(tc.name, func(t *testing.T) {
			if raceOn && len(tc.body) > parseUpTo {
				t.Skip("bodies of MiB encoded three ways take the race detector half a minute; the bytes this checks are checked without it")
			}
			d := &tmpl.Data{Hook: "site", Event: "push", ContentType: tc.contentType, Body: []byte(tc.body), Received: time.Now()}
			res, err := e.st.Ingest(context.Background(), &store.NewEvent{
				Hook: "site", Type: "push", Received: d.Received, Remote: "192.0.2.7", ContentType: tc.contentType, Query: "a=<1>&b=\u2028",
				Header: http.Header{"Content-Type": {tc.contentType}, "X-Odd": {"<v> & \"w\"", "\x01\u2028"}, "Jobs": {"1"}},
				Body:   []byte(tc.body), Jobs: e.acfg.Plan("site", d),
			})
			if err != nil {
				t.Fatal(err)
			}
			e.waitState(res.ID, store.Succeeded)
			ev, err := e.st.GetEvent(res.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			det, err := EventDetail(e.st, e.srv.held(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(det); err != nil {
				t.Fatal(err)
			}

			r, err := e.ts.Client().Get(e.ts.URL + "/api/events/" + res.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("GET /api/events/%s = %d, %v", res.ID, r.StatusCode, err)
			}
			sameJSON(t, "the answer", got, want.Bytes())

			var w bytes.Buffer
			if err := WriteEvent(&w, det); err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "WriteEvent", w.Bytes(), want.Bytes())
		})
	}
}

func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s (%d bytes) differs from json.Encoder's (%d) at %d:\n%q\nwant\n%q", what, len(got), len(want), i,
		got[max(0, i-60):min(len(got), i+60)], want[max(0, i-60):min(len(want), i+60)])
}

// TestAPI_EventAnswerClientGone: the answer of a large event is written
// out as the client reads it. A client that stops reading midway holds
// no read transaction meanwhile (which would hold up the write that grows
// the file: bbolt remaps it only when no reader has it), and one that
// goes away ends the handler, not left writing into nothing.
func TestAPI_EventAnswerClientGone(t *testing.T) {
	e := newEnv(t, "")
	line := []byte("a line <of> a log & its text\n")
	id := e.ingestAs("site", "text/plain", bytes.Repeat(line, (16<<20)/len(line)))
	handled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handled)
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/events/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id)
	br := bufio.NewReader(conn)
	if status, err := br.ReadString('\n'); err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("GET /api/events/%s: %q, %v", id, status, err)
	}
	if _, err := io.ReadFull(br, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}

	// The client reads no more: the handler waits on the connection.
	grown := make(chan error, 1)
	go func() {
		_, err := e.st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(),
			ContentType: "text/plain", Header: http.Header{}, Body: bytes.Repeat(line, (48<<20)/len(line))})
		grown <- err
	}()
	select {
	case err := <-grown:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a write that grows the file waited 20s on an answer that its client stopped reading")
	}
	select {
	case <-handled:
		t.Fatal("the handler ended with its client still there, before it sent the answer")
	default:
	}

	conn.Close()
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still ran 10s after its client went away")
	}
}
