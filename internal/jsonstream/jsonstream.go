// Package jsonstream writes large JSON values — a string of tens of MiB,
// the base64 of a body, a payload to indent — as they go out, through a
// buffer of a fixed size, byte for byte as encoding/json writes them
// (json.Encoder, with its default HTML escaping, and SetIndent("", "  ")):
// json.Encoder builds the whole value, and then its indented copy, in
// memory before it writes a byte, which for an event of 256 MiB is
// gigabytes.
//
// Its tests hold it to encoding/json's output; they are what to run when
// Go changes how encoding/json escapes or indents.
package jsonstream

import (
	"encoding/base64"
	"io"
	"unicode/utf8"
)

// bufSize is about how much a Writer holds before it writes to its
// io.Writer.
const bufSize = 32 << 10

// Writer writes JSON to an io.Writer through a buffer of about 32 KiB.
// It keeps the first error of a write and writes nothing after it, so
// that a value of 256 MiB whose reader went away is not walked on to
// its end: a caller checks Err, or Flush's error, where it suits it.
type Writer struct {
	w   io.Writer
	buf []byte
	err error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, bufSize+64)}
}

// Write writes p as it is (JSON that is made already, such as the small
// parts of an answer around a large value).
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(w.buf)+len(p) > bufSize {
		w.flush()
		if len(p) > bufSize && w.err == nil {
			_, w.err = w.w.Write(p)
			if w.err != nil {
				return 0, w.err
			}
			return len(p), nil
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), w.err
}

// Flush writes what the buffer holds and returns the first error of a
// write, if any.
func (w *Writer) Flush() error {
	w.flush()
	return w.err
}

// Err is the first error of a write, or nil.
func (w *Writer) Err() error { return w.err }

func (w *Writer) flush() {
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.w.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// room writes the buffer out once it holds bufSize, and reports whether
// to go on (no write has failed).
func (w *Writer) room() bool {
	if len(w.buf) >= bufSize {
		w.flush()
	}
	return w.err == nil
}

// hex is encoding/json's: its escapes have lower-case digits.
const hex = "0123456789abcdef"

// htmlSafe are the ASCII bytes encoding/json writes in a string as they
// are, escaping HTML: not the control characters, ", \, <, > and &.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// String writes s as a JSON string, escaped as json.Marshal escapes a
// Go string: ", \ and the control characters, <, > and & (\u003c), U+2028
// and U+2029, and each byte that is no UTF-8 as \ufffd.
func String[T ~string | ~[]byte](w *Writer, s T) {
	if w.err != nil {
		return
	}
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if i-start >= bufSize {
			// A long run of plain text goes out in pieces.
			w.buf = append(w.buf, s[start:i]...)
			start = i
			if !w.room() {
				return
			}
		}
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			w.buf = append(w.buf, s[start:i]...)
			switch b {
			case '\\', '"':
				w.buf = append(w.buf, '\\', b)
			case '\b':
				w.buf = append(w.buf, '\\', 'b')
			case '\f':
				w.buf = append(w.buf, '\\', 'f')
			case '\n':
				w.buf = append(w.buf, '\\', 'n')
			case '\r':
				w.buf = append(w.buf, '\\', 'r')
			case '\t':
				w.buf = append(w.buf, '\\', 't')
			default:
				w.buf = append(w.buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			if !w.room() {
				return
			}
			continue
		}
		c, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case c == utf8.RuneError && size == 1:
			w.buf = append(w.buf, s[start:i]...)
			w.buf = append(w.buf, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			w.buf = append(w.buf, s[start:i]...)
			w.buf = append(w.buf, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
		if !w.room() {
			return
		}
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
	w.room()
}

// Base64 writes b as a JSON string of its standard base64 (with
// padding), as json.Marshal writes a []byte.
func (w *Writer) Base64(b []byte) {
	if w.err != nil {
		return
	}
	w.buf = append(w.buf, '"')
	const chunk = bufSize / 4 * 3 // whole groups of 3 bytes but at the end
	for len(b) > 0 {
		n := min(len(b), chunk)
		w.buf = base64.StdEncoding.AppendEncode(w.buf, b[:n])
		b = b[n:]
		if !w.room() {
			return
		}
	}
	w.buf = append(w.buf, '"')
	w.room()
}

// Indent writes raw, which must be valid JSON (json.Valid), as a
// json.Encoder with SetIndent("", "  ") writes it where it stands depth
// levels in (the value of a member of a top-level object is 1 in): each
// element on a line of its own, two spaces a level, a space after each
// colon, {} and [] when empty; the whitespace raw has outside its strings
// is dropped, and what its strings hold is written as it is, escapes too.
// With html, it writes <, > and & in strings, and U+2028 and U+2029, as
// escapes (\u003c, \u2028), as json.Marshal writes a json.RawMessage.
//
// Of raw that is not valid JSON, it writes something, without a panic.
func (w *Writer) Indent(raw []byte, depth int, html bool) {
	needIndent := false // after { or [: its first element's line is due
	inString := false
	for i := 0; i < len(raw) && w.err == nil; {
		c := raw[i]
		if inString {
			j := i
			for j < len(raw) && j-i < bufSize {
				c := raw[j]
				if c == '"' || c == '\\' || html && (c == '<' || c == '>' || c == '&' || c == 0xE2) {
					break
				}
				j++
			}
			w.buf = append(w.buf, raw[i:j]...)
			long := j-i >= bufSize
			if i = j; i == len(raw) {
				break
			}
			if long {
				// A long run of plain bytes goes out in pieces.
				w.room()
				continue
			}
			switch c := raw[i]; {
			case c == '"':
				inString = false
				w.buf = append(w.buf, c)
				i++
			case c == '\\':
				// An escape: its second byte is none of the above
				// (\" does not end the string), its others plain.
				w.buf = append(w.buf, raw[i:min(i+2, len(raw))]...)
				i += 2
			case c == 0xE2:
				// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
				if i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
					w.buf = append(w.buf, '\\', 'u', '2', '0', '2', hex[raw[i+2]&0xF])
					i += 3
				} else {
					w.buf = append(w.buf, c)
					i++
				}
			default: // <, > or &
				w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
				i++
			}
			w.room()
			continue
		}
		i++
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			w.newline(depth)
		}
		switch c {
		case '"':
			inString = true
			w.buf = append(w.buf, c)
		case '{', '[':
			needIndent = true // {} and [] stay on one line
			w.buf = append(w.buf, c)
		case ',':
			w.buf = append(w.buf, c)
			w.newline(depth)
		case ':':
			w.buf = append(w.buf, c, ' ')
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				w.newline(depth)
			}
			w.buf = append(w.buf, c)
		default:
			w.buf = append(w.buf, c)
		}
		w.room()
	}
}

// newline begins a line indented depth levels.
func (w *Writer) newline(depth int) {
	w.buf = append(w.buf, '\n')
	for range depth {
		w.buf = append(w.buf, ' ', ' ')
		if !w.room() {
			return
		}
	}
}
