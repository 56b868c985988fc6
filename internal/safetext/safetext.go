// Package safetext writes text that came from a sender (an event type, a
// header, a payload, a reason that quotes one of its values, a run's
// output) so that a terminal or a page shows it as it is: the control
// characters, the bytes that are not UTF-8 and the characters that reorder
// the text around them (bidi controls) are written out as escapes (\x1b,
// \x9b, \u202e). An escape sequence printed as it is could retitle a
// terminal, clear it or move its cursor; a U+202E in a ref turned the rest
// of a line around, so that it read as another ref.
package safetext

import (
	"bytes"
	"unicode/utf8"
)

// Write writes p to b escaped. Newlines and tabs stay when lines is set,
// and are escaped too when it is not (one cell of a table).
func Write(b *bytes.Buffer, p []byte, lines bool) {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == '\n' || r == '\t':
			if lines {
				b.WriteByte(byte(r))
			} else {
				escape(b, 'x', uint32(r), 2)
			}
		case r < 0x20 || r == 0x7f:
			escape(b, 'x', uint32(r), 2)
		case r == utf8.RuneError && n == 1:
			// Not UTF-8: a lone byte such as 0x9b, which a terminal
			// reading 8-bit controls takes for CSI.
			escape(b, 'x', uint32(p[0]), 2)
		case r >= 0x80 && r < 0xa0 || Bidi(r):
			escape(b, 'u', uint32(r), 4)
		default:
			b.Write(p[:n])
		}
		p = p[n:]
	}
}

// escape writes v as \ kind and digits lower-case hex digits (\x9b,
// \u202e), as fmt's %0*x would, without fmt: a body that is not text
// has an escape for every other byte.
func escape(b *bytes.Buffer, kind byte, v uint32, digits int) {
	const hex = "0123456789abcdef"
	b.WriteByte('\\')
	b.WriteByte(kind)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hex[v>>shift&0xf])
	}
}

// String is s escaped, its newlines and tabs kept; s itself when there
// is nothing to escape.
func String(s string) string {
	i := 0
	for i < len(s) && plain(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b bytes.Buffer
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	Write(&b, []byte(s[i:]), true)
	return b.String()
}

// Plain reports whether p is printable ASCII, newlines and tabs: what
// Write with lines set leaves as it is.
func Plain(p []byte) bool {
	for _, c := range p {
		if !plain(c) {
			return false
		}
	}
	return true
}

func plain(c byte) bool {
	return c >= 0x20 && c < 0x7f || c == '\n' || c == '\t'
}

// Bidi reports whether r is a character that sets the direction of the
// text around it: the embeddings, overrides and isolates, and the marks.
func Bidi(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}
