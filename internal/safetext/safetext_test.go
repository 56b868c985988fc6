package safetext

import (
	"bytes"
	"testing"
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
