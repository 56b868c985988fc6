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

	"github.com/webhookd/webhookd/admin"
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
			return printJSON(env.Stdout, ev)
		}
		limit := 0
		if isTerminal(env.Stdout) {
			// Tens of MiB would scroll past for minutes.
			limit = showLimit
		}
		printEvent(safeWriter{env.Stdout}, ev, limit)
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
			if r.ExitCode != nil {
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
	var text []byte
	switch {
	case ev.Payload != nil:
		title, text = "payload", indentPayload(ev.Payload)
	case ev.Body != "":
		title, text = "body", []byte(ev.Body)
	case ev.BodyBase64 != "":
		// Not text: its bytes as they are, which w escapes where they
		// are not UTF-8 (\x9b); -json has them exactly, in base64.
		if b, err := base64.StdEncoding.DecodeString(ev.BodyBase64); err == nil {
			title, text = "body (not UTF-8 text)", b
		}
	}
	if text == nil {
		return
	}
	text = bytes.TrimRight(text, "\n")
	shown := text
	if limit > 0 && len(text) > limit {
		shown = cutAt(text, limit)
	}
	fmt.Fprintf(w, "\n%s\n  ", title)
	w.Write(bytes.ReplaceAll(shown, []byte("\n"), []byte("\n  ")))
	fmt.Fprintln(w)
	if len(shown) < len(text) {
		fmt.Fprintf(w, "  … %s of %s shown: webhookd show %s | less shows all of it, -json has it exactly\n",
			bytesHuman(int64(len(shown))), bytesHuman(int64(len(text))), ev.ID)
	}
}

// indentPayload is a payload as JSON, indented by two spaces a level; a
// payload that came as its bytes (json.RawMessage: a large one) is
// indented from them, without a tree of it.
func indentPayload(p any) []byte {
	if raw, ok := p.(json.RawMessage); ok {
		var b bytes.Buffer
		b.Grow(2*len(raw) + 1024)
		if json.Indent(&b, raw, "", "  ") == nil {
			return unescapeHTML(b.Bytes())
		}
	}
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
// A backslash escaped itself (\\u0026) stays as it is.
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

// cutAt is text cut to at most n bytes: after the last whole line that
// fits, else (one long line) not inside a character (bytes that are no
// UTF-8 are cut where they are, not walked back to nothing).
func cutAt(text []byte, n int) []byte {
	if len(text) <= n {
		return text
	}
	if i := bytes.LastIndexByte(text[:n+1], '\n'); i > 0 { // text[n] may end a line that fits
		return text[:i]
	}
	return textcut.Cut(text, n)
}
