package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/internal/jsonstream"
)

// readEvent reads GET /api/events/{id}'s answer as it comes and keeps its
// payload or body once: a payload as the JSON it came as, without the
// indentation around it (a json.RawMessage), a body as its text, unescaped
// as it comes; the rest of the event is decoded as any answer is.
// json.Decoder held the whole answer, indented, and then a copy of each
// value: with show's indenting and printing after it, 12 times a large
// body.
func readEvent(r io.Reader) (*admin.EventJSON, error) {
	d := &answerReader{r: r, buf: make([]byte, 64<<10)}
	c, err := d.next()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, fmt.Errorf("invalid character %q looking for the beginning of an event", c)
	}
	rest := []byte{'{'} // the event's members but its body's: decoded at the end
	var (
		bodyName string // the body's member: payload, body or body_base64
		raw      []byte // its value, a payload's or one that is no string
		text     string // its value, a string unescaped
	)
	for first := true; ; first = false {
		if c, err = d.next(); err != nil {
			return nil, err
		}
		if c == '}' {
			break
		}
		if !first {
			if c != ',' {
				return nil, fmt.Errorf("invalid character %q after a member of the event", c)
			}
			if c, err = d.next(); err != nil {
				return nil, err
			}
		}
		if c != '"' {
			return nil, fmt.Errorf("invalid character %q looking for the name of a member of the event", c)
		}
		var key []byte
		if key, err = d.value(c, nil); err != nil {
			return nil, err
		}
		var name string
		if err := json.Unmarshal(key, &name); err != nil {
			return nil, err
		}
		if c, err = d.next(); err != nil {
			return nil, err
		} else if c != ':' {
			return nil, fmt.Errorf("invalid character %q after the name %q", c, name)
		}
		if c, err = d.next(); err != nil {
			return nil, err
		}
		switch name {
		case "payload", "body", "body_base64":
			bodyName, raw, text = name, nil, ""
			if name != "payload" && c == '"' {
				// Unescaped as it comes, into the string it makes:
				// not held escaped, then unescaped into a buffer, then
				// copied into a string.
				var sb strings.Builder
				sb.Grow(sizeHint(rest, name))
				if err := d.str(&sb); err != nil {
					return nil, fmt.Errorf("the event's %s: %w", name, err)
				}
				text = sb.String()
			} else if raw, err = d.value(c, make([]byte, 0, sizeHint(rest, name))); err != nil {
				return nil, err
			}
		default:
			if len(rest) > 1 {
				rest = append(rest, ',')
			}
			rest = append(append(rest, key...), ':')
			if rest, err = d.value(c, rest); err != nil {
				return nil, err
			}
		}
	}
	var ev admin.EventJSON
	if err := json.Unmarshal(append(rest, '}'), &ev); err != nil {
		return nil, err
	}
	switch {
	case bodyName == "payload":
		if !json.Valid(raw) {
			return nil, errors.New("the event's payload is not JSON")
		}
		ev.Payload = json.RawMessage(raw)
	case raw != nil: // a body that is no string: null, or an error
		err = json.Unmarshal(append(append([]byte(`{"`+bodyName+`":`), raw...), '}'), &ev)
	case bodyName == "body":
		ev.Body = text
	case bodyName == "body_base64":
		ev.BodyBase64 = text
	}
	if err != nil {
		return nil, fmt.Errorf("the event's %s: %w", bodyName, err)
	}
	return &ev, nil
}

// sizeHint is about how many bytes the value of the member name of an
// event holds, from the event's size among the members read before it
// (rest), so that what holds it is not grown (a quarter at a time, with a
// copy each time): a body's text is the body, its base64 a third more; a
// payload, without space but for a few escapes, about the body. At most
// what max_body allows.
func sizeHint(rest []byte, name string) int {
	var head struct{ Size int }
	if json.Unmarshal(append(rest[:len(rest):len(rest)], '}'), &head) != nil || head.Size <= 0 {
		return 0
	}
	n := min(head.Size, 256<<20)
	switch name {
	case "body":
		return n
	case "body_base64":
		return (n + 2) / 3 * 4
	}
	return n + n/16 + 1024
}

// answerReader reads a JSON text through a buffer of its own.
type answerReader struct {
	r    io.Reader
	buf  []byte
	i, n int
	err  error
}

// fill makes sure the buffer holds a byte to read, and reports whether it
// does; if not, d.err says why.
func (d *answerReader) fill() bool {
	for tries := 0; d.i == d.n; tries++ {
		if d.err != nil {
			return false
		}
		if tries == 100 {
			d.err = io.ErrNoProgress
			return false
		}
		d.n, d.err = d.r.Read(d.buf)
		d.i = 0
	}
	return true
}

// ended is why the text ended early.
func (d *answerReader) ended() error {
	if d.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return d.err
}

// next reads the next byte that is not space.
func (d *answerReader) next() (byte, error) {
	for d.fill() {
		c := d.buf[d.i]
		d.i++
		if !isSpace(c) {
			return c, nil
		}
	}
	return 0, d.ended()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// value reads the value that begins with c (read already) and appends
// it to dst without the space outside its strings. It finds where the
// value ends; whether it is JSON is for its decoder to say.
func (d *answerReader) value(c byte, dst []byte) ([]byte, error) {
	dst = append(dst, c)
	depth := 0
	var str jsonstream.StringState
	switch c {
	case '"':
		str.Step(c)
	case '{', '[':
		depth = 1
	default: // a number, true, false or null: up to what cannot be in one
		for d.fill() {
			c := d.buf[d.i]
			if isSpace(c) || c == ',' || c == '}' || c == ']' || c == ':' || c == '"' || c == '{' || c == '[' {
				return dst, nil
			}
			dst = append(dst, c)
			d.i++
		}
		return dst, d.ended()
	}
	for depth > 0 || str.In() {
		if !d.fill() {
			return dst, d.ended()
		}
		b := d.buf[d.i:d.n]
		k := 0
		for ; k < len(b) && (depth > 0 || str.In()); k++ {
			c := b[k]
			switch {
			case str.Step(c):
				dst = append(dst, c)
			case isSpace(c):
			default:
				dst = append(dst, c)
				switch c {
				case '{', '[':
					depth++
				case '}', ']':
					depth--
				}
			}
		}
		d.i += k
	}
	return dst, nil
}

// ensure makes the buffer hold at least n bytes to read, if the text has
// them, and reports whether it does.
func (d *answerReader) ensure(n int) bool {
	if d.n-d.i >= n {
		return true
	}
	d.n = copy(d.buf, d.buf[d.i:d.n])
	d.i = 0
	for tries := 0; d.n < n && d.err == nil; tries++ {
		if tries == 100 {
			d.err = io.ErrNoProgress
			break
		}
		var m int
		m, d.err = d.r.Read(d.buf[d.n:])
		d.n += m
	}
	return d.n >= n
}

// str reads the rest of a JSON string, whose opening quote is read, and
// writes its text to sb, unescaped as json.Unmarshal unescapes a string:
// a byte that is no UTF-8, and a \u escape of half a surrogate pair, are
// U+FFFD.
func (d *answerReader) str(sb *strings.Builder) error {
	for {
		if !d.fill() {
			return d.ended()
		}
		b := d.buf[d.i:d.n]
		k := 0
		for k < len(b) && b[k] >= 0x20 && b[k] < utf8.RuneSelf && b[k] != '"' && b[k] != '\\' {
			k++
		}
		sb.Write(b[:k])
		if d.i += k; k == len(b) {
			continue
		}
		switch c := b[k]; {
		case c == '"':
			d.i++
			return nil
		case c < 0x20:
			return fmt.Errorf("invalid character %q in a string", c)
		case c >= utf8.RuneSelf:
			d.ensure(utf8.UTFMax) // fewer at the text's end
			r, size := utf8.DecodeRune(d.buf[d.i:d.n])
			if r == utf8.RuneError && size == 1 {
				sb.WriteRune(utf8.RuneError)
			} else {
				sb.Write(d.buf[d.i : d.i+size])
			}
			d.i += size
		default: // an escape
			if !d.ensure(2) {
				return d.ended()
			}
			switch e := d.buf[d.i+1]; e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, ok := d.u4()
				if !ok {
					return fmt.Errorf("invalid escape %q in a string", d.buf[d.i:min(d.n, d.i+6)])
				}
				d.i += 6
				if utf16.IsSurrogate(r) {
					// Its other half must follow; else it is U+FFFD.
					r2, ok := d.u4()
					if r = utf16.DecodeRune(r, r2); ok && r != utf8.RuneError {
						d.i += 6
					}
				}
				sb.WriteRune(r)
				continue
			default:
				return fmt.Errorf("invalid escape %q in a string", d.buf[d.i:d.i+2])
			}
			d.i += 2
		}
	}
}

// u4 reads the \uXXXX escape at the buffer's start, if it is one.
func (d *answerReader) u4() (rune, bool) {
	if !d.ensure(6) || d.buf[d.i] != '\\' || d.buf[d.i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range d.buf[d.i+2 : d.i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
