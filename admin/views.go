package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/internal/jsonstream"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// EventJSON is an event as the API shows it.
type EventJSON struct {
	ID          string            `json:"id"`
	Hook        string            `json:"hook"`
	Event       string            `json:"event,omitempty"`
	Delivery    string            `json:"delivery,omitempty"`
	Received    time.Time         `json:"received"`
	Remote      string            `json:"remote,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Size        int               `json:"size"`
	State       store.State       `json:"state"`
	Headers     map[string]string `json:"headers,omitempty"`
	Query       string            `json:"query,omitempty"`
	// Payload is the parsed body; Body is the body as text when it is not
	// JSON or a form; BodyBase64 the body, exactly, when it is not text
	// (not UTF-8), and then Body is empty.
	Payload    any       `json:"payload,omitempty"`
	Body       string    `json:"body,omitempty"`
	BodyBase64 string    `json:"body_base64,omitempty"`
	Jobs       []JobJSON `json:"jobs"`
}

// EventListJSON is a page of events: GET /api/events.
type EventListJSON struct {
	Events []EventJSON `json:"events"`
	// Next is the cursor for the following page (pass it as before=), or
	// "" at the end.
	Next string `json:"next,omitempty"`
}

// JobJSON is a job as the API shows it.
type JobJSON struct {
	*store.Job
	// Held says why a queued job does not start ("" if it can); read
	// from the file with no daemon running, a running job's is CutOff.
	Held string    `json:"held,omitempty"`
	Runs []RunJSON `json:"runs,omitempty"`
}

// RunJSON is a run as the API shows it.
type RunJSON struct {
	*store.Run
	DurationMS int64  `json:"duration_ms"`
	Output     string `json:"output,omitempty"`
}

// HeldFunc says why hook's action does not start queued jobs now ("" if it
// does): the scheduler's Held, or OfflineHeld without a running daemon.
type HeldFunc func(hook, action string) string

// CutOff is the Held of a job that is running in a file read with no
// daemon running: the daemon stopped while it ran (a clean stop leaves no
// job running), so nothing runs it now, and the next start runs it again.
// (Its command may go on meanwhile, when the daemon was killed.)
const CutOff = "cut off: webhookd stopped while it ran; it runs again at its next start"

// OfflineHeld says of jobs read from the database file with no daemon
// running what the daemon would: a queued job of a paused action is held
// (pauses are kept in the file). MarkCutOff marks the running ones.
func OfflineHeld(st *store.Store) (HeldFunc, error) {
	paused, err := st.Paused()
	if err != nil {
		return nil, fmt.Errorf("read the paused actions: %w", err)
	}
	set := map[string]bool{}
	for _, p := range paused {
		set[p] = true
	}
	return func(hook, action string) string {
		if set[hook+"/"+action] {
			return actions.HeldPaused
		}
		return ""
	}, nil
}

// MarkCutOff gives each running job of ev, read from the file with no
// daemon running, the Held CutOff.
func MarkCutOff(ev *EventJSON) {
	for i := range ev.Jobs {
		if ev.Jobs[i].State == store.Running {
			ev.Jobs[i].Held = CutOff
		}
	}
}

// EventDetail builds the full view of one event: headers, payload, jobs and
// every run with its output. ev must have been read with its raw parts.
func EventDetail(st *store.Store, held HeldFunc, ev *store.Event) (*EventJSON, error) {
	return eventDetail(st, held, ev, true, true)
}

// eventDetail is EventDetail, without the payload unless payload is set,
// and without the jobs' runs unless runs is: the event page reads only the
// start of a large body and the newest runs of the newest jobs, and shows
// them itself.
func eventDetail(st *store.Store, held HeldFunc, ev *store.Event, payload, runs bool) (*EventJSON, error) {
	jobs, err := st.Jobs(ev)
	if err != nil {
		return nil, err
	}
	out := eventHead(ev, store.EventState(jobs))
	if ev.Header != nil {
		out.Headers = map[string]string{}
		keys := make([]string, 0, len(ev.Header))
		for k := range ev.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			// Every line of a header that came as several, combined
			// as HTTP combines them.
			out.Headers[k] = strings.Join(ev.Header[k], ", ")
		}
	}
	if ev.Header != nil && payload {
		bodyOf(ev).fill(out)
	}
	for _, j := range jobs {
		jj, err := jobJSON(st, held, j, runs)
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, jj)
	}
	return out, nil
}

// eventBody is how an event's answer carries its body: as its payload
// parsed (tree), or as the JSON it came as (raw: a large payload, indented
// from its bytes as it is written out), or as text (body), or as its bytes
// in base64 (body_base64: bytes that are no UTF-8). One of them is set, or
// none (no body).
type eventBody struct {
	tree any
	raw  []byte
	text []byte
	bin  []byte
}

// bodyOf is how ev's answer carries its body. Its slices are ev.Body
// itself, or (a large form's payload) the payload unescaped into a buffer
// of its own: the body is not copied again. A body that is no UTF-8 is
// not parsed at all: its tree, which it was given up for, cost 30 times
// a large one.
func bodyOf(ev *store.Event) eventBody {
	if !utf8.Valid(ev.Body) {
		// As text, or parsed, JSON would turn its bytes into U+FFFD.
		return eventBody{bin: ev.Body}
	}
	if raw := largeJSON(ev.ContentType, ev.Body); raw != nil {
		// Indented from its bytes as it is written out, in the
		// sender's order; a tree of it would cost 25 times its size.
		if indentFits(raw, 1, 2*len(ev.Body)+32<<10) {
			return eventBody{raw: raw}
		}
		return eventBody{text: ev.Body}
	}
	if mt, _, _ := mime.ParseMediaType(ev.ContentType); len(ev.Body) > parseUpTo && mt != "application/x-www-form-urlencoded" {
		// Not JSON, as largeJSON found: nor would ParsePayload find it
		// (a body that is no form is parsed only as JSON), after it had
		// read tens of MiB cut short, or not JSON at all, into a tree
		// as far as it went (a daemon of 6 MB rose to 115 MB).
		return eventBody{text: ev.Body}
	}
	if p := tmpl.ParsePayload(ev.ContentType, ev.Body); p != nil && tmpl.IndentFits(p, 1, 2*len(ev.Body)+32<<10) {
		// Shown parsed, the API and the dashboard indent it: a payload
		// whose indentation would dwarf its body is shown as the body.
		return eventBody{tree: p}
	}
	return eventBody{text: ev.Body}
}

// fill sets out's Payload, Body or BodyBase64 as b says.
func (b eventBody) fill(out *EventJSON) {
	switch {
	case b.tree != nil:
		out.Payload = b.tree
	case b.raw != nil:
		out.Payload = json.RawMessage(b.raw)
	case b.bin != nil:
		out.BodyBase64 = base64.StdEncoding.EncodeToString(b.bin)
	default:
		out.Body = string(b.text)
	}
}

// parseUpTo is the largest body shown as a payload parsed into a tree
// (keys sorted, numbers normalized, as a when sees it). A larger JSON body
// is shown from its bytes: parsing and indenting 36 MiB took a daemon
// from 170 MB to 920 MB, and 22 s.
const parseUpTo = 1 << 20

// largeJSON is the JSON of a body over parseUpTo that is a payload — the
// body itself, or a form's one payload field (GitHub's form) — or nil.
func largeJSON(contentType string, body []byte) []byte {
	if len(body) <= parseUpTo {
		return nil
	}
	raw := body
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		if raw = formPayload(body); raw == nil {
			return nil
		}
		if !utf8.Valid(raw) {
			// Its bytes would make the answer no JSON (which is UTF-8):
			// parsed, as a smaller one is, they are U+FFFD.
			return nil
		}
	}
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 || t[0] != '{' && t[0] != '[' || !json.Valid(raw) {
		return nil
	}
	return raw
}

// formPayload is the payload field of a form that has that field alone
// (GitHub's form: payload=, then its JSON escaped), unescaped as
// url.ParseQuery unescapes it, or nil. The form GitHub sends is read
// without url.ParseQuery, which takes the body as a string: of tens of
// MiB, a copy of it, then one of the field unescaped, then one of that as
// bytes.
func formPayload(body []byte) []byte {
	if v, ok := bytes.CutPrefix(body, []byte("payload=")); ok && bytes.IndexAny(v, "&;") < 0 {
		p, ok := unescapeQuery(v)
		if !ok || len(p) == 0 {
			return nil // url.ParseQuery's error; no payload
		}
		return p
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil || len(vals) != 1 || vals.Get("payload") == "" {
		return nil
	}
	return []byte(vals.Get("payload"))
}

// unescapeQuery is url.QueryUnescape over bytes: %XX is the byte XX, +
// a space; ok is false at a % without two hex digits after it.
func unescapeQuery(s []byte) (out []byte, ok bool) {
	out = make([]byte, 0, max(0, len(s)-2*bytes.Count(s, []byte("%"))))
	for {
		i := bytes.IndexAny(s, "%+")
		if i < 0 {
			return append(out, s...), true
		}
		out = append(out, s[:i]...)
		if s[i] == '+' {
			out, s = append(out, ' '), s[i+1:]
			continue
		}
		var b [1]byte
		if i+2 >= len(s) {
			return nil, false
		}
		if _, err := hex.Decode(b[:], s[i+1:i+3]); err != nil {
			return nil, false
		}
		out, s = append(out, b[0]), s[i+3:]
	}
}

// indentFits reports whether raw, valid JSON, indented two spaces a level
// from level on (a space after each colon), grows by at most max bytes:
// tmpl.IndentFits, over the bytes rather than a tree.
func indentFits(raw []byte, level, max int) bool {
	budget, depth := max, level-1 // depth: the innermost open bracket's
	var str jsonstream.StringState
	for i, c := range raw {
		if str.Step(c) {
			continue
		}
		switch c {
		case ':':
			budget--
		case ',':
			budget -= 2*depth + 3
		case '{', '[':
			depth++
			if rest := bytes.TrimLeft(raw[i+1:], " \t\r\n"); len(rest) > 0 && rest[0] != '}' && rest[0] != ']' {
				// Its first element's line, and its closing bracket's.
				budget -= 2*depth + 3 + 2*depth + 1
			}
		case '}', ']':
			depth--
		}
		if budget < 0 {
			return false
		}
	}
	return true
}

// EventSummary is an event of a list: no headers, payload or runs.
func EventSummary(v *store.EventView, held HeldFunc) EventJSON {
	out := eventHead(v.Event, v.State)
	for _, j := range v.Jobs {
		out.Jobs = append(out.Jobs, JobJSON{Job: j, Held: heldReason(held, j)})
	}
	return *out
}

func eventHead(ev *store.Event, st store.State) *EventJSON {
	return &EventJSON{
		ID: ev.ID, Hook: ev.Hook, Event: ev.Type, Delivery: ev.Delivery, Received: ev.Received,
		Remote: ev.Remote, ContentType: ev.ContentType, Size: ev.Size, State: st,
		Query: ev.Query, Jobs: []JobJSON{},
	}
}

func heldReason(held HeldFunc, j *store.Job) string {
	if held != nil && (j.State == store.Pending || j.State == store.Failed) {
		return held(j.Hook, j.Action)
	}
	return ""
}

func jobJSON(st *store.Store, held HeldFunc, j *store.Job, runs bool) (JobJSON, error) {
	out := JobJSON{Job: j, Held: heldReason(held, j)}
	if runs {
		rs, err := st.Runs(j.ID)
		if err != nil {
			return out, err
		}
		for _, r := range rs {
			out.Runs = append(out.Runs, RunJSON{Run: r, DurationMS: r.Duration().Milliseconds(), Output: string(r.Output)})
		}
	}
	return out, nil
}

// MarshalJSON hides the raw output bytes: RunJSON shows them as text.
func (r RunJSON) MarshalJSON() ([]byte, error) {
	type run store.Run
	type view struct {
		*run
		Output     string `json:"output,omitempty"`
		DurationMS int64  `json:"duration_ms"`
	}
	return json.Marshal(view{run: (*run)(r.Run), Output: r.Output, DurationMS: r.DurationMS})
}

// UnmarshalJSON reads what MarshalJSON writes (for clients of the API).
func (r *RunJSON) UnmarshalJSON(b []byte) error {
	type run store.Run
	var v struct {
		*run
		Output     string `json:"output"`
		DurationMS int64  `json:"duration_ms"`
	}
	v.run = (*run)(new(store.Run))
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Run, r.Output, r.DurationMS = (*store.Run)(v.run), v.Output, v.DurationMS
	return nil
}
