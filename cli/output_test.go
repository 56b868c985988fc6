package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/admin"
)

// TestShow_EscapesControls: what a sender put in an event (its type,
// delivery id, body) reaches the terminal with its control characters
// escaped; an escape sequence would otherwise retitle, clear or move the
// operator's terminal. Newlines and tabs of a body stay.
func TestShow_EscapesControls(t *testing.T) {
	ev := &admin.EventJSON{
		ID: "06H4WK95M0000000", Hook: "open", Event: "push\x1b]0;PWNED\x07", Delivery: "d\x1b[2J",
		Body: "hello\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[1;1Hall good\n\tindented \u009b31m",
	}
	var out bytes.Buffer
	printEvent(safeWriter{&out}, ev)
	s := out.String()
	if strings.ContainsAny(s, "\x1b\x07\u009b") {
		t.Errorf("control characters reached the output:\n%q", s)
	}
	for _, want := range []string{`push\x1b]0;PWNED\x07`, `d\x1b[2J`, `\x1b[1;1Hall good` + "\n  \tindented " + `\u009b31m`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if got := cell("a\tb\nc\x1bd"); got != `a\x09b\x0ac\x1bd` {
		t.Errorf("cell = %q", got)
	}
}
