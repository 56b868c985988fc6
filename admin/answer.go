package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/webhookd/webhookd/internal/jsonstream"
)

// WriteEvent writes ev as JSON indented two spaces a level, byte for byte
// what a json.Encoder with SetIndent("", "  ") writes of it, as
// GET /api/events/{id} answers: but a payload that is a json.RawMessage,
// a body or a body_base64 is escaped (or indented) as it is written out,
// rather than built whole in memory twice (encoded, then indented) before
// a byte goes: for an event of tens of MiB, hundreds of MB.
func WriteEvent(w io.Writer, ev *EventJSON) error {
	head := *ev
	head.Payload, head.Body, head.BodyBase64 = nil, "", ""
	raw, isRaw := ev.Payload.(json.RawMessage)
	switch {
	case ev.Payload != nil && (!isRaw || ev.Body != "" || ev.BodyBase64 != "" || !json.Valid(raw)):
		// A tree (small), or what the API never answers: as json does.
	case isRaw:
		return writeEvent(w, &head, "payload", func(w *jsonstream.Writer) { w.Indent(raw, 1, true) })
	case ev.Body != "" && ev.BodyBase64 == "":
		return writeEvent(w, &head, "body", func(w *jsonstream.Writer) { jsonstream.String(w, ev.Body) })
	case ev.BodyBase64 != "" && ev.Body == "":
		return writeEvent(w, &head, "body_base64", func(w *jsonstream.Writer) { jsonstream.String(w, ev.BodyBase64) })
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ev)
}

// writeEventBody writes the answer of GET /api/events/{id}: head, which has
// no payload or body, with b, the event's body, as eventBody.fill would
// set it; a large body is escaped, indented or turned into base64 as it
// is written out.
func writeEventBody(w io.Writer, head *EventJSON, b eventBody) error {
	switch {
	case b.raw != nil:
		return writeEvent(w, head, "payload", func(w *jsonstream.Writer) { w.Indent(b.raw, 1, true) })
	case b.bin != nil:
		return writeEvent(w, head, "body_base64", func(w *jsonstream.Writer) { w.Base64(b.bin) })
	case len(b.text) > 0:
		return writeEvent(w, head, "body", func(w *jsonstream.Writer) { jsonstream.String(w, b.text) })
	}
	out := *head
	b.fill(&out) // a tree, small; or no body
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// jobsMember begins the member that follows an event's payload or body,
// and ends the event's indented JSON: jobs, never omitted. Only a member
// of the event itself begins a line with two spaces and a quote (the
// newlines in its strings are escapes), and none before it is named jobs.
var jobsMember = []byte(",\n  \"jobs\": ")

// writeEvent writes head, which has no payload or body, indented, with
// the member name put before its jobs (where encoding/json puts a
// payload, body or body_base64) and its value written by value.
func writeEvent(w io.Writer, head *EventJSON, name string, value func(*jsonstream.Writer)) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(head); err != nil {
		return err
	}
	i := bytes.Index(b.Bytes(), jobsMember)
	if i < 0 {
		return errors.New("the event's JSON has no jobs") // it always has
	}
	out := jsonstream.NewWriter(w)
	out.Write(b.Bytes()[:i])
	out.Write([]byte(",\n  \"" + name + "\": "))
	value(out)
	out.Write(b.Bytes()[i:])
	return out.Flush()
}
