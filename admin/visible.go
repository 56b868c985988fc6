package admin

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// visible is text that came from a sender (an event type, a header, a
// payload, a reason that quotes a payload's value, a run's output) as the
// pages show it: the control characters but newline and tab, the bytes
// that are not UTF-8, and the characters that reorder the text around them
// (bidi controls) are written out as escapes (\x1b, \u202e). A U+202E in a
// ref turned the rest of a verdict around, so that it read as another
// ref; a control character was not seen at all. webhookd show escapes
// control characters the same way.
func visible(s string) string {
	i := 0
	for i < len(s) && plainByte(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for p := s[i:]; p != ""; {
		r, n := utf8.DecodeRuneInString(p)
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", p[0])
		case r >= 0x80 && r < 0xa0 || bidi(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(p[:n])
		}
		p = p[n:]
	}
	return b.String()
}

// plainByte reports whether c is printable ASCII, a newline or a tab.
func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x7f || c == '\n' || c == '\t'
}

// bidi reports whether r is a character that sets the direction of the
// text around it: the embeddings, overrides and isolates, and the marks.
func bidi(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}
