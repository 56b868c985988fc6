package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/internal/jsonstream"
	"github.com/webhookd/webhookd/internal/textcut"
	"github.com/webhookd/webhookd/store"
)

func cmdShow() *Command {
	c := &Command{
		Name:    "show",
		Args:    "[-config FILE] [-json] EVENT_ID",
		Summary: "one event: headers, payload, why each action ran or not, its runs' output",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		af := addAPIFlags(fs, env)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &UsageError{Msg: "usage: webhookd show " + c.Args}
		}
		id := pos[0]
		cfg, cl, err := af.dial()
		if err != nil {
			return err
		}
		var ev *admin.EventJSON
		err = cl.receive(ctx, "GET", "/api/events/"+id, nil, cl.bounds.answer, func(r io.Reader) (err error) {
			ev, err = readEvent(r)
			return err
		})
		if errors.Is(err, errNotRunning) {
			ev, err = showOffline(id, func() (*store.Store, error) { return openOffline(env, cfg, err) })
		}
		if err != nil {
			return err
		}
		if *af.json {
			// As the daemon answers, its payload or body written as it
			// goes out, not encoded whole and then indented again.
			return admin.WriteEvent(env.Stdout, ev)
		}
		limit := 0
		if isTerminal(env.Stdout) {
			// Tens of MiB would scroll past for minutes.
			limit = showLimit
		}
		printEvent(&safeWriter{w: env.Stdout}, ev, limit)
		return nil
	}
	return c
}

func showOffline(id string, open func() (*store.Store, error)) (*admin.EventJSON, error) {
	if !store.ValidID(id) {
		return nil, fmt.Errorf("event %q: %w", id, store.ErrNotFound)
	}
	st, err := open()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ev, err := st.GetEvent(id, true)
	if err != nil {
		return nil, err
	}
	held, err := admin.OfflineHeld(st)
	if err != nil {
		return nil, err
	}
	out, err := admin.EventDetail(st, held, ev)
	if err != nil {
		return nil, err
	}
	admin.MarkCutOff(out)
	return out, nil
}

// showLimit is how much of a payload or body show prints on a terminal.
const showLimit = 64 << 10

// printEvent writes one event for a person: what arrived, then each job
// with its verdict and runs, then the headers and the payload: its first
// limit bytes, if limit > 0, and what to do to see the rest. A field of
// one line is one line: what the sender put in it is a cell, its
// newlines escaped too.
func printEvent(w io.Writer, ev *admin.EventJSON, limit int) {
	fmt.Fprintf(w, "event     %s\n", ev.ID)
	fmt.Fprintf(w, "hook      %s\n", ev.Hook)
	if ev.Event != "" {
		fmt.Fprintf(w, "type      %s\n", cell(ev.Event))
	}
	if ev.Delivery != "" {
		fmt.Fprintf(w, "delivery  %s\n", cell(ev.Delivery))
	}
	fmt.Fprintf(w, "received  %s", stamp(ev.Received))
	if ev.Remote != "" {
		fmt.Fprintf(w, " from %s", cell(ev.Remote))
	}
	fmt.Fprintf(w, " (%d bytes", ev.Size)
	if ev.ContentType != "" {
		fmt.Fprintf(w, ", %s", cell(ev.ContentType))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "state     %s\n", ev.State)

	fmt.Fprintln(w)
	if len(ev.Jobs) == 0 {
		fmt.Fprintln(w, "no actions: the hook had none when the event arrived")
	}
	for _, j := range ev.Jobs {
		fmt.Fprintf(w, "%s  %s  (job %s", j.Action, j.State, j.ID)
		if j.Key != "" {
			fmt.Fprintf(w, ", key %s", cell(j.Key))
		}
		fmt.Fprintln(w, ")")
		fmt.Fprintf(w, "  %s\n", admin.Verdict(j))
		for _, r := range j.Runs {
			fmt.Fprintf(w, "  run %d: %s", r.Attempt, r.Result)
			if r.ExitCode != nil && *r.ExitCode >= 0 {
				// -1 is no exit status (killed by a signal, or never
				// started): the error line says what happened.
				fmt.Fprintf(w, ", exit %d", *r.ExitCode)
			}
			if r.Status != 0 {
				fmt.Fprintf(w, ", HTTP %d", r.Status)
			}
			fmt.Fprintf(w, ", %s, started %s\n", time.Duration(r.DurationMS)*time.Millisecond, stamp(r.Started))
			if r.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", r.Error)
			}
			if r.Truncated {
				fmt.Fprintln(w, "    (output truncated: only its last 64 KiB are kept)")
			}
			for _, line := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
				if r.Output != "" {
					fmt.Fprintf(w, "    | %s\n", line)
				}
			}
		}
	}

	if len(ev.Headers) > 0 {
		fmt.Fprintln(w, "\nheaders")
		keys := make([]string, 0, len(ev.Headers))
		for k := range ev.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s: %s\n", cell(k), cell(ev.Headers[k]))
		}
	}
	if ev.Query != "" {
		fmt.Fprintf(w, "\nquery  %s\n", cell(ev.Query))
	}
	var title string
	var write func(io.Writer) // writes the text
	switch {
	case ev.Payload != nil:
		if raw, ok := ev.Payload.(json.RawMessage); ok {
			// A payload that came as its bytes (a large one, or any
			// from the daemon): indented from them as it is printed.
			if !json.Valid(raw) {
				return
			}
			raw = unescapeHTML(raw)
			write = func(w io.Writer) {
				jw := jsonstream.NewWriter(w)
				jw.Indent(raw, 0, false)
				jw.Flush()
			}
		} else if text := indentPayload(ev.Payload); text != nil {
			write = func(w io.Writer) { writeText(w, text) }
		} else {
			return
		}
		title = "payload"
	case ev.Body != "":
		title, write = "body", func(w io.Writer) { writeText(w, ev.Body) }
	case ev.BodyBase64 != "":
		// Not text: its bytes as they are, which w escapes where they
		// are not UTF-8 (\x9b); -json has them exactly, in base64.
		b, err := base64.StdEncoding.DecodeString(ev.BodyBase64)
		if err != nil {
			return
		}
		title, write = "body (not UTF-8 text)", func(w io.Writer) { writeText(w, b) }
	default:
		return
	}
	fmt.Fprintf(w, "\n%s\n  ", title)
	p := &textPrinter{w: w, limit: limit}
	write(p)
	shown, all := p.close()
	fmt.Fprintln(w)
	if shown < all {
		fmt.Fprintf(w, "  … %s of %s shown: webhookd show %s | less shows all of it, -json has it exactly\n",
			bytesHuman(int64(shown)), bytesHuman(int64(all)), ev.ID)
	}
}

// writeText writes text to w a piece at a time: a textPrinter keeps each
// piece's lines until it has some 32 KiB of them to write.
func writeText[T string | []byte](w io.Writer, text T) {
	buf := make([]byte, 0, min(len(text), printChunk))
	for len(text) > 0 {
		n := min(len(text), printChunk)
		buf = append(buf[:0], text[:n]...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		text = text[n:]
	}
}

// printChunk is about how much a textPrinter writes at once.
const printChunk = 32 << 10

// textPrinter prints the text of a payload or a body, which is written
// to it, as printEvent shows it: its lines but the first indented two
// spaces, and not its newlines at its end. With a limit (> 0) it keeps
// only its start, which it writes at close cut by cutAt at the limit;
// without, it writes the text as it comes, a character never split
// between two writes (w escapes what is no UTF-8). Either way it never
// holds the whole text: a payload of tens of MiB, indented, with each line
// indented again, was three copies of it at once.
type textPrinter struct {
	w     io.Writer
	limit int
	head  []byte // with a limit: the text's first limit+UTFMax bytes
	out   []byte // without: text to write, its lines indented
	nl    int    // without: newlines not written yet, none if they end the text
	n     int    // the text's length so far
	trail int    // how many newlines end the text so far
	err   error
}

func (p *textPrinter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	p.n += len(b)
	if t := len(b) - len(bytes.TrimRight(b, "\n")); t == len(b) {
		p.trail += t
	} else {
		p.trail = t
	}
	if p.limit > 0 {
		if room := p.limit + utf8.UTFMax - len(p.head); room > 0 {
			p.head = append(p.head, b[:min(room, len(b))]...)
		}
		return len(b), nil
	}
	for rest := b; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if i > 0 {
			for ; p.nl > 0; p.nl-- {
				p.out = append(p.out, "\n  "...)
				if len(p.out) >= printChunk {
					p.flush(false)
				}
			}
			p.out = append(p.out, rest[:i]...)
		}
		if i < len(rest) {
			p.nl++
			i++
		}
		rest = rest[i:]
		if len(p.out) >= printChunk {
			p.flush(false)
		}
	}
	if p.err != nil {
		return 0, p.err
	}
	return len(b), nil
}

// flush writes what the printer holds; but for all, not a character
// whose end it does not have yet.
func (p *textPrinter) flush(all bool) {
	k := len(p.out)
	if !all {
		k -= len(p.out) - len(textcut.TrimRune(p.out))
	}
	if p.err == nil && k > 0 {
		_, p.err = p.w.Write(p.out[:k])
	}
	p.out = append(p.out[:0], p.out[k:]...)
}

// close writes what is left to write, and returns how many bytes of the
// text it wrote and how many it has (without the newlines at its end).
func (p *textPrinter) close() (shown, all int) {
	all = p.n - p.trail
	if p.limit <= 0 {
		p.flush(true)
		return all, all
	}
	text := p.head[:min(len(p.head), all)]
	if all > p.limit {
		text = textcut.CutLines(text, p.limit)
	}
	if p.err == nil {
		_, p.err = p.w.Write(bytes.ReplaceAll(text, []byte("\n"), []byte("\n  ")))
	}
	return len(text), all
}

// indentPayload is a payload parsed (a small one, read from the file) as
// JSON, indented by two spaces a level.
func indentPayload(p any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if enc.Encode(p) != nil {
		return nil
	}
	return b.Bytes()
}

// unescapeHTML turns the escapes JSON encoders write for HTML's sake
// (\u003c, \u003e, \u0026: the daemon's answer has them) back into <, >
// and &, in place, as show printed a payload before: the text as sent.
// A backslash escaped itself (\\u0026) stays as it is. (printEvent does
// so to the payload it prints: it is the last to read it.)
func unescapeHTML(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c", "003C":
				out, i = append(out, '<'), i+5
				continue
			case "003e", "003E":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out = append(out, b[i], b[i+1]) // another escape, whole
		i++
	}
	return out
}
