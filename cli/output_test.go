package cli

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
)

// TestShow_EscapesControls: what a sender put in an event (its type,
// delivery id, body) reaches the terminal with its control characters
// escaped; an escape sequence would otherwise retitle, clear or move the
// operator's terminal. Newlines and tabs of a body stay.
func TestShow_EscapesControls(t *testing.T) {
	ev := &admin.EventJSON{
		ID: "06H4WK95M0000000", Hook: "open", Event: "push\x1b]0;PWNED\x07", Delivery: "d\x1b[2J",
		Body: "hello\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[1;1Hall good\n\tindented \u009b31m, not UTF-8 \x9b2J",
	}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 0)
	s := out.String()
	if strings.ContainsAny(s, "\x1b\x07\u009b") || strings.Contains(s, "\x9b") {
		t.Errorf("control characters reached the output:\n%q", s)
	}
	for _, want := range []string{`push\x1b]0;PWNED\x07`, `d\x1b[2J`, `\x1b[1;1Hall good` + "\n  \tindented " + `\u009b31m, not UTF-8 \x9b2J`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if got := cell("a\tb\nc\x1bd"); got != `a\x09b\x0ac\x1bd` {
		t.Errorf("cell = %q", got)
	}
}

// The dry run of a bulk replay lists event types as they came, escaped.
func TestPrintBulk_EscapesControls(t *testing.T) {
	var out bytes.Buffer
	printBulk(&out, BulkResult{Events: []admin.BulkEvent{{ID: "06H4WK95M0000000", Hook: "pay", Type: "invoice.paid\x1b]0;PWNED\x07", State: "dead"}}, Done: &admin.BulkDone{Matched: 1}}, true)
	if s := out.String(); strings.ContainsAny(s, "\x1b\x07") || !strings.Contains(s, `invoice.paid\x1b]0;PWNED\x07`) {
		t.Errorf("dry run listed:\n%q", s)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"site": "site", "/etc/webhookd/webhookd.toml": "/etc/webhookd/webhookd.toml", "": "''",
		"my conf.toml": "'my conf.toml'", "it's": `'it'\''s'`, "$HOME": "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s; want %s", in, got, want)
		}
	}
}

// A body that is not text (the API's body_base64) is shown with its bytes,
// those that are not UTF-8 escaped.
func TestShow_BinaryBody(t *testing.T) {
	ev := &admin.EventJSON{ID: "06H4WK95M0000000", Hook: "bin", BodyBase64: base64.StdEncoding.EncodeToString([]byte("PK\x03\x04\x9b2J é"))}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 0)
	if s := out.String(); !strings.Contains(s, `body (not UTF-8 text)`+"\n  "+`PK\x03\x04\x9b2J é`) || strings.Contains(s, "\x9b") {
		t.Errorf("show printed:\n%q", s)
	}
}

// A one-line field of `show` that came from the sender (its type and
// delivery id from the body, a job's key rendered from the payload) is
// one line: a newline in it is escaped, so that it cannot print lines of
// its own that pass for the event's ("state     succeeded").
func TestShow_OneLineFields(t *testing.T) {
	ev := &admin.EventJSON{
		ID: "06H4WK95M0000000", Hook: "pay", Event: "invoice.paid\nstate     succeeded", Delivery: "evt_1\r\nhook      other",
		State: "dead", Jobs: []admin.JobJSON{{Job: &store.Job{ID: "06H4WK95M0000001", Action: "notify", State: "dead", Key: "k\nnotify  succeeded"}}},
	}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 0)
	s := out.String()
	for _, forged := range []string{"\nstate     succeeded", "\nhook      other", "\nnotify  succeeded"} {
		if strings.Contains(s, forged) {
			t.Errorf("a field printed a line of its own, %q:\n%s", forged, s)
		}
	}
	for _, want := range []string{`type      invoice.paid\x0astate     succeeded`, `delivery  evt_1\x0d\x0ahook      other`, `key k\x0anotify  succeeded`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// TestShow_EscapesBidi: a character that reorders the text around it
// (U+202E, right-to-left override) in what a sender wrote is written out
// as an escape, as the dashboard writes it: in a skipped job's verdict it
// turned the rest of the line around, so that it read as another ref.
func TestShow_EscapesBidi(t *testing.T) {
	ev := &admin.EventJSON{ID: "06H4WK95M0000000", Hook: "open", Event: "push\u202e", Body: "ref \u2066refs/heads/main\u2069 \u200f"}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 0)
	s := out.String()
	if strings.ContainsAny(s, "\u202e\u2066\u2069\u200f") {
		t.Errorf("bidi controls reached the output:\n%q", s)
	}
	for _, want := range []string{`push\u202e`, `ref \u2066refs/heads/main\u2069 \u200f`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if got := cell("a\u202eb"); got != `a\u202eb` {
		t.Errorf("cell = %q", got)
	}
}

// A run with no exit status (its command killed by a signal, here by a
// cancel) is shown without "exit -1", which read as a status the command
// gave; its error says what happened. A real status, 0 included, is shown.
func TestShow_RunWithoutExitStatus(t *testing.T) {
	killed, zero := -1, 0
	ev := &admin.EventJSON{ID: "06H4WK95M0000000", Hook: "site", State: store.Cancelled, Jobs: []admin.JobJSON{{
		Job: &store.Job{ID: "06H4WK95M0000001", Action: "deploy", State: store.Cancelled},
		Runs: []admin.RunJSON{
			{Run: &store.Run{Attempt: 1, Result: store.RunSucceeded, ExitCode: &zero}},
			{Run: &store.Run{Attempt: 2, Result: store.RunInterrupted, ExitCode: &killed, Error: "cancelled by a person"}},
		},
	}}}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 0)
	s := out.String()
	if strings.Contains(s, "exit -1") {
		t.Errorf("a run without an exit status shows one:\n%s", s)
	}
	for _, want := range []string{"run 1: succeeded, exit 0,", "run 2: interrupted, 0s,", "error: cancelled by a person"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
