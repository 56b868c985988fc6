package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/safetext"
)

// parseArgs parses flags that may come before, between or after the
// positional arguments (`replay ID -action deploy`), and returns the
// positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable writes aligned columns; call Flush at the end.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// stamp formats a time for tables: local, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// safeWriter escapes what it writes (safetext): control characters but
// newline and tab, bytes that are not UTF-8, bidi controls. A character
// must not be split between two writes.
type safeWriter struct {
	w   io.Writer
	buf bytes.Buffer // the escaped text, kept from one write to the next
}

func (s *safeWriter) Write(p []byte) (int, error) {
	if safetext.Plain(p) {
		// Nothing to escape: as it is, without a copy (a payload can be
		// tens of MiB).
		return s.w.Write(p)
	}
	s.buf.Reset()
	safetext.Write(&s.buf, p, true)
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// cell is s for one cell of a table: newlines and tabs escaped too.
func cell(s string) string {
	var b bytes.Buffer
	safetext.Write(&b, []byte(s), false)
	return b.String()
}

// oneLine shortens s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseWhen reads a point in time for -since and -until: RFC 3339
// (2026-01-02T15:04:05Z), a local date or date and time (2026-01-02,
// "2026-01-02 15:04"), or a duration before now (90m, 24h, 7d).
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := config.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a time (2026-01-02, \"2026-01-02 15:04\", RFC 3339) or a duration ago (24h, 7d)", v)
}
