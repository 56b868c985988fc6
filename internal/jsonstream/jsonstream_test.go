package jsonstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// written is what f writes through a Writer, flushed.
func written(t testing.TB, f func(w *Writer)) string {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	f(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func marshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hostileStrings are strings whose every escape json.Marshal writes, at
// and across the Writer's buffer's edges.
func hostileStrings() []string {
	ss := []string{"", "a", `"`, `\`, "<>&", "\u2028\u2029", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "\xff", "\xe2\x80", "\xe2\x80\xa8",
		"caf\u00e9 \u20ac \U0001F600", "\ufffd", "\xed\xa0\x80", "a\xc0\xafb", strings.Repeat("x", bufSize-1) + "é<"}
	for _, n := range []int{bufSize - 2, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 7} {
		ss = append(ss, strings.Repeat("a", n)+"\u2028"+strings.Repeat("<", n), strings.Repeat("\n", n), strings.Repeat("é", n/2)+"\xff")
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "é", "\u2028", "<", "&", "\"", "\\", "\n", "\x01", "\xff", "\xe2", "\x80", "\U0001F600", " "}
	for range 200 {
		var b strings.Builder
		for range r.IntN(3 * bufSize / 2) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		ss = append(ss, b.String())
	}
	return ss
}

// TestString_AsMarshal: String writes what json.Marshal writes of the
// string, from a string or from its bytes.
func TestString_AsMarshal(t *testing.T) {
	for _, s := range hostileStrings() {
		want := marshal(t, s)
		if got := written(t, func(w *Writer) { String(w, s) }); got != want {
			t.Errorf("String(%.40q…) = %.80q…; want %.80q…", s, got, want)
		}
		if got := written(t, func(w *Writer) { String(w, []byte(s)) }); got != want {
			t.Errorf("String([]byte(%.40q…)) = %.80q…; want %.80q…", s, got, want)
		}
	}
}

// TestString_EveryCharacter: each character, and each byte alone, as
// json.Marshal writes it.
func TestString_EveryCharacter(t *testing.T) {
	var b strings.Builder
	for r := rune(0); r <= utf8.MaxRune; r++ {
		b.WriteRune(r) // surrogates become U+FFFD
	}
	for c := range 256 {
		b.WriteByte(byte(c))
		b.WriteByte('a')
	}
	s := b.String()
	if got, want := written(t, func(w *Writer) { String(w, s) }), marshal(t, s); got != want {
		for i := 0; i < min(len(got), len(want)); i++ {
			if got[i] != want[i] {
				t.Fatalf("String of every character differs from json.Marshal at %d: %q; want %q", i, got[max(0, i-20):min(len(got), i+20)], want[max(0, i-20):min(len(want), i+20)])
			}
		}
		t.Fatalf("String of every character: %d bytes; json.Marshal: %d", len(got), len(want))
	}
}

// TestBase64_AsMarshal: Base64 writes what json.Marshal writes of a
// []byte.
func TestBase64_AsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, bufSize/4*3 - 1, bufSize / 4 * 3, bufSize/4*3 + 1, bufSize, 5*bufSize + 2} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := written(t, func(w *Writer) { w.Base64(b) }), marshal(t, b); got != want {
			t.Errorf("Base64 of %d bytes = %.60q…; want %.60q…", n, got, want)
		}
	}
}

// jsonTexts are valid JSON texts that hold every case of indenting.
func jsonTexts() []string {
	ts := []string{
		`1`, `-0.5e+10`, `"s"`, `true`, `null`, `{}`, `[]`, ` { } `, `[ [ ] , { } ]`,
		`{"a":1,"b":[1,2,{"c":null}],"d":{},"e":[]}`,
		" {\n\t\"a\" :\r [ 1 , \"x y\" ] , \"b\":{ \"c\" : { } } } \n",
		`["<>&", "\u003c\u003E\u0026", "a\"b\\", "\\", "\"", "\u2028", "` + "\u2028\u2029\xe2\x80\xa7" + `", "\/", "é\u00e9"]`,
		`{"<key>":"&amp;","k\"ey":[true,false,null]}`,
		`[[[[[[[[[[1]]]]]]]]]]`,
		`{"long":"` + strings.Repeat("x<y", bufSize) + `","after":[1]}`,
		`["` + strings.Repeat("ab", bufSize) + `\"` + strings.Repeat(" ", bufSize) + `"]`,
	}
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range 3000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d, "name":"item <%d> & \u2028", "tags":["a","b"], "at":{"x":%d,"y":[]}}`, i, i, i)
	}
	b.WriteString(`]}`)
	return append(ts, b.String())
}

// TestIndent_AsEncoder: Indent writes a payload as json.Encoder, with
// SetIndent("", "  "), writes it as a json.RawMessage of an object's
// member; and, at depth 0 without html, as json.Indent indents it (but
// for the space that trails it, which json.Indent keeps).
func TestIndent_AsEncoder(t *testing.T) {
	for _, raw := range jsonTexts() {
		if !json.Valid([]byte(raw)) {
			t.Fatalf("not JSON: %.80s", raw)
		}
		checkIndent(t, []byte(raw))
	}
}

func checkIndent(t *testing.T, raw []byte) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		A json.RawMessage `json:"a"`
	}{raw}); err != nil {
		t.Fatal(err)
	}
	got := written(t, func(w *Writer) {
		w.Write([]byte("{\n  \"a\": "))
		w.Indent(raw, 1, true)
		w.Write([]byte("\n}\n"))
	})
	if want := b.String(); got != want {
		t.Errorf("Indent(%.60q…, 1, html) differs from json.Encoder at %d:\n%s\nwant\n%s", raw, diffAt(got, want), around(got, diffAt(got, want)), around(want, diffAt(got, want)))
	}
	b.Reset()
	// json.Indent keeps the space that trails raw; Indent drops it.
	if err := json.Indent(&b, bytes.TrimRight(raw, " \t\r\n"), "", "  "); err != nil {
		t.Fatal(err)
	}
	got = written(t, func(w *Writer) { w.Indent(raw, 0, false) })
	if want := b.String(); got != want {
		t.Errorf("Indent(%.60q…, 0, no html) differs from json.Indent at %d:\n%s\nwant\n%s", raw, diffAt(got, want), around(got, diffAt(got, want)), around(want, diffAt(got, want)))
	}
}

func diffAt(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func around(s string, i int) string { return s[max(0, i-40):min(len(s), i+40)] }

// FuzzIndent: of any valid JSON, Indent writes what json.Encoder and
// json.Indent write; of anything else, something, without a panic.
func FuzzIndent(f *testing.F) {
	for _, raw := range jsonTexts()[:12] {
		f.Add([]byte(raw))
	}
	f.Add([]byte(`{"a":"\`))
	f.Add([]byte("[\"\xe2\x80"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			written(t, func(w *Writer) { w.Indent(raw, 1, true) })
			return
		}
		checkIndent(t, raw)
	})
}

// FuzzString: String writes what json.Marshal writes.
func FuzzString(f *testing.F) {
	for _, s := range hostileStrings()[:16] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := written(t, func(w *Writer) { String(w, s) }), marshal(t, s); got != want {
			t.Errorf("String(%q) = %q; want %q", s, got, want)
		}
	})
}

// failAfter takes n bytes, then fails every write.
type failAfter struct {
	n, writes int
}

var errGone = errors.New("the reader went away")

func (f *failAfter) Write(p []byte) (int, error) {
	f.writes++
	if len(p) > f.n {
		f.n = 0
		return 0, errGone
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriter_StopsAtError: a reader that goes away midway (a client
// that hangs up) ends the writing of a large value at the next buffer's
// write, not at the value's end; the error is kept.
func TestWriter_StopsAtError(t *testing.T) {
	text := strings.Repeat("line <1> of a log\n", 1<<20)
	raw := []byte(`{"a":[` + strings.Repeat(`{"b":"<c>","d":[1,2]},`, 1<<18) + `0]}`)
	for name, f := range map[string]func(w *Writer){
		"String":  func(w *Writer) { String(w, text) },
		"Base64":  func(w *Writer) { w.Base64([]byte(text)) },
		"Indent":  func(w *Writer) { w.Indent(raw, 1, true) },
		"Write":   func(w *Writer) { w.Write([]byte(text)); w.Write([]byte(text)) },
		"newline": func(w *Writer) { w.Indent([]byte(strings.Repeat("[", 1000)+"1"+strings.Repeat("]", 1000)), 0, false) },
	} {
		fw := &failAfter{n: 3 * bufSize}
		w := NewWriter(fw)
		f(w)
		if err := w.Flush(); !errors.Is(err, errGone) {
			t.Errorf("%s: Flush = %v; want %v", name, err, errGone)
		}
		if fw.writes > 5 {
			t.Errorf("%s: %d writes to a writer that failed at the 4th; want it to stop there", name, fw.writes)
		}
	}
}
