package safetext

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"
)

// TestString: control characters but newline and tab, bytes that are not
// UTF-8 and bidi controls are written out; other text is left as it is.
func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text\n\twith tabs", "plain text\n\twith tabs"},
		{"é ü 日本", "é ü 日本"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\x00b\x7fc\rd", `a\x00b\x7fc\x0dd`},
		{"\u202eniam\u202c", `\u202eniam\u202c`},
		{"\u2067x\u2069 \u200f \u061c", `\u2067x\u2069 \u200f \u061c`},
		{"\u009b2J", `\u009b2J`},
		{"bad \xff\xfe byte", `bad \xff\xfe byte`},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%+q) = %+q; want %+q", tc.in, got, tc.want)
		}
	}
}

// TestWrite_Cell: without lines, newlines and tabs are escaped too.
func TestWrite_Cell(t *testing.T) {
	var b bytes.Buffer
	Write(&b, []byte("a\tb\nc\x1bd\u202e"), false)
	if got, want := b.String(), `a\x09b\x0ac\x1bd\u202e`; got != want {
		t.Errorf("Write(cell) = %q; want %q", got, want)
	}
}

// The escapes are fmt's %02x and %04x, written without fmt: every byte
// that is no text alone, every control character, and the bidi controls.
func TestWrite_EscapesAsFmt(t *testing.T) {
	var want bytes.Buffer
	var in []byte
	for c := 0; c < 0x100; c++ {
		switch {
		case c == '\n' || c == '\t' || c < 0x20 || c == 0x7f:
			in = append(in, byte(c))
			fmt.Fprintf(&want, "\\x%02x", c)
		case c >= 0x80:
			in = append(in, byte(c)) // a lone byte: not UTF-8
			fmt.Fprintf(&want, "\\x%02x", c)
		}
	}
	for _, r := range []rune{0x80, 0x9b, 0x9f, 0x061c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069} {
		in = utf8.AppendRune(in, r)
		fmt.Fprintf(&want, "\\u%04x", r)
	}
	var got bytes.Buffer
	Write(&got, in, false)
	if got.String() != want.String() {
		t.Errorf("Write =\n%s\nwant\n%s", got.String(), want.String())
	}
}

func BenchmarkWrite_NotText(b *testing.B) {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i * 7)
	}
	var out bytes.Buffer
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		out.Reset()
		Write(&out, p, true)
	}
}
