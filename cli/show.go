package cli

import (
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
		err = cl.call(ctx, "GET", "/api/events/"+id, nil, &ev)
		if errors.Is(err, errNotRunning) {
			ev, err = showOffline(id, func() (*store.Store, error) { return openOffline(env, cfg, err) })
		}
		if err != nil {
			return err
		}
		if *af.json {
			return printJSON(env.Stdout, ev)
		}
		printEvent(safeWriter{env.Stdout}, ev)
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
	return admin.EventDetail(st, nil, ev)
}

// printEvent writes one event for a person: what arrived, then each job
// with its verdict and runs, then the headers and the payload. A field
// of one line is one line: what the sender put in it is a cell, its
// newlines escaped too.
func printEvent(w io.Writer, ev *admin.EventJSON) {
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
	switch {
	case ev.Payload != nil:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetIndent("  ", "  ")
		enc.SetEscapeHTML(false)
		if enc.Encode(ev.Payload) == nil {
			fmt.Fprintf(w, "\npayload\n  %s", b.String())
		}
	case ev.Body != "":
		fmt.Fprintf(w, "\nbody\n  %s\n", strings.ReplaceAll(ev.Body, "\n", "\n  "))
	case ev.BodyBase64 != "":
		// Not text: its bytes as they are, which w escapes where they
		// are not UTF-8 (\x9b); -json has them exactly, in base64.
		if b, err := base64.StdEncoding.DecodeString(ev.BodyBase64); err == nil {
			fmt.Fprintf(w, "\nbody (not UTF-8 text)\n  %s\n", strings.ReplaceAll(string(b), "\n", "\n  "))
		}
	}
}
