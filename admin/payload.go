package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/webhookd/webhookd/internal/jsonstream"
	"github.com/webhookd/webhookd/internal/textcut"
)

// pageShow is how much of a payload the event page shows: what webhookd
// show prints on a terminal. A body of tens of MiB, indented and escaped,
// made a page of hundreds of MB.
const pageShow = 64 << 10

// pageRead is how much of a larger body the event page reads: enough for
// pageShow of text from a form's escapes (%XX, three bytes a byte).
const pageRead = 3*pageShow + 1024

// maxShownDepth is the deepest nesting the page indents a large payload
// to; a deeper one is shown as it came (each level costs its lines two
// spaces).
const maxShownDepth = 64

// payloadText is what the event page shows of an event's payload: the API's
// view of a small body (det: parsed, indented), or the start of a larger
// one (head: its first bytes, at most pageRead), indented from its bytes
// when it is JSON. The text is at most pageShow bytes; cut says that it is
// not all of the payload, binary that it is the body's bytes in base64,
// and how says how it is shown, for the note on a cut payload.
func payloadText(det *EventJSON, contentType string, head []byte, size int) (text string, cut, binary bool, how string) {
	if size <= pageShow {
		switch {
		case det.Payload != nil:
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false) // the template escapes; show the text as sent
			if err := enc.Encode(det.Payload); err == nil {
				text = strings.TrimSuffix(b.String(), "\n")
			}
		case det.BodyBase64 != "":
			text, binary = wrapBase64(head), true
		default:
			text = det.Body
		}
		if len(text) > pageShow {
			// Indented, a body within pageShow can be twice as large.
			return string(textcut.CutLines([]byte(text), pageShow)), true, binary, "shown, indented"
		}
		return text, false, binary, "shown"
	}
	raw := head
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		// GitHub's form: one field, payload, the JSON.
		if p, ok := bytes.CutPrefix(head, []byte("payload=")); ok && bytes.IndexByte(p, '&') < 0 {
			if s, err := url.QueryUnescape(string(trimEscape(p))); err == nil {
				raw = []byte(s)
			}
		}
	}
	all := len(head) == size // the body is all there
	if !all {
		// The head may end inside a character: not one to show.
		raw = textcut.TrimRune(raw)
	}
	if !utf8.Valid(raw) {
		n := min(len(head), pageShow/4*3)
		return wrapBase64(head[:n]), n < size, true, "shown"
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if out, whole, ok := indentHead(raw, pageShow); ok {
			return string(out), !all || !whole, false, "shown as it came (keys in the sender's order), indented"
		}
	}
	out := textcut.CutLines(raw, pageShow)
	return string(out), !all || len(out) < len(raw), false, "shown"
}

// trimEscape drops a %XX escape that the end of p cuts.
func trimEscape(p []byte) []byte {
	for i := len(p) - 1; i >= 0 && i >= len(p)-2; i-- {
		if p[i] == '%' {
			return p[:i]
		}
	}
	return p
}

// wrapBase64 is b in base64, 76 characters a line.
func wrapBase64(b []byte) string {
	b64 := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	out.Grow(len(b64) + len(b64)/76 + 1)
	for b64 != "" {
		n := min(len(b64), 76)
		out.WriteString(b64[:n])
		out.WriteByte('\n')
		b64 = b64[n:]
	}
	return out.String()
}

// indentHead indents the start of a JSON text two spaces a level, as
// json.Indent does, until the result holds about limit bytes, and cuts it
// after its last whole line. It does not look past what it shows, so it
// takes no proof that the rest is JSON; whole says that out is all of
// raw, and ok is false when the text nests deeper than maxShownDepth.
func indentHead(raw []byte, limit int) (out []byte, whole, ok bool) {
	out = make([]byte, 0, limit+2*maxShownDepth+8)
	depth := 0
	newline := func(d int) {
		out = append(out, '\n')
		for range d {
			out = append(out, ' ', ' ')
		}
	}
	var str jsonstream.StringState
	i := 0
	for ; i < len(raw) && len(out) < limit; i++ {
		c := raw[i]
		if str.Step(c) {
			out = append(out, c)
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
		case '{', '[':
			out = append(out, c)
			rest := bytes.TrimLeft(raw[i+1:], " \t\r\n")
			if len(rest) > 0 && (rest[0] == '}' || rest[0] == ']') {
				out = append(out, rest[0])
				i = len(raw) - len(rest)
				continue
			}
			if depth++; depth > maxShownDepth {
				return nil, false, false
			}
			newline(depth)
		case '}', ']':
			depth = max(depth-1, 0)
			newline(depth)
			out = append(out, c)
		case ',':
			out = append(out, c)
			newline(depth)
		case ':':
			out = append(out, c, ' ')
		default:
			out = append(out, c)
		}
	}
	if i == len(raw) && len(out) <= limit {
		return out, true, true
	}
	return textcut.CutLines(out, limit), false, true
}
