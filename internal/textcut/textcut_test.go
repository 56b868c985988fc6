package textcut

import (
	"strings"
	"testing"
)

// Cut backs off to a character's start, but bytes that are no UTF-8 (a
// path of %80s) are cut where they are, not walked back to nothing.
func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"ab\u00e9cd", 3, "ab"}, // é is 2 bytes: not split
		{"a\u20acb", 2, "a"},    // € is 3 bytes
		{"/x" + strings.Repeat("\x80", 300), 200, "/x" + strings.Repeat("\x80", 198)},
		{"/ab" + strings.Repeat("\x80", 10), 5, "/ab\x80\x80"},
		{"a\x80\x80\x80\x80", 3, "a\x80\x80"},
		{"ab\u20ac", 4, "ab"},        // € (3 bytes) runs past 4
		{"ab\u20acc", 5, "ab\u20ac"}, // and ends at 5
		{"ab\ufffd", 4, "ab"},        // a real U+FFFD (3 bytes) is a character too: not split
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
		if got := Cut([]byte(tc.in), tc.n); string(got) != tc.want {
			t.Errorf("Cut([]byte(%q), %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTrimRune(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ab\xc3", "ab"},             // é cut after its first byte
		{"ab\xc3\xa9", "ab\xc3\xa9"}, // é whole
		{"a\xe2\x82", "a"},           // € cut after two of three
		{"a\xf0\x9f\x98", "a"},       // 😀 cut after three of four
		{"a\xff", "a\xff"},           // no UTF-8: left as it is
	} {
		if got := TrimRune([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("TrimRune(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestCutLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nbb\nccc\n", 100, "a\nbb\nccc\n"},
		{"a\nbb\nccc\n", 4, "a\nbb"},
		{"a\nbb\nccc\n", 5, "a\nbb"},
		{"a\nbb\nccc\n", 3, "a"},
		{"abcdef", 3, "abc"},
		{"ééé", 3, "é"},
		{"\xff\x80\x80\x80", 2, "\xff\x80"}, // no UTF-8: cut where it is
	} {
		if got := string(CutLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("CutLines(%q, %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
