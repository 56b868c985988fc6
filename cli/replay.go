package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
)

func cmdReplay() *Command {
	c := &Command{
		Name:    "replay",
		Args:    "EVENT_ID [-action NAME] | -hook ID -state S [-since T] [-until T] [-dry-run]",
		Summary: "queue an event's actions again; in bulk, every match, oldest first, with progress",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		af := addAPIFlags(fs, env)
		action := fs.String("action", "", "replay only this `action`")
		hook := fs.String("hook", "", "bulk: the events of this hook")
		state := fs.String("state", "", "bulk: the events in this `state` (dead, for one)")
		since := fs.String("since", "", "bulk: events received at or after `T` (2026-01-02, \"2026-01-02 15:04\", RFC 3339, or 24h ago)")
		until := fs.String("until", "", "bulk: events received before `T`")
		dry := fs.Bool("dry-run", false, "bulk: list the events that would be replayed, and replay none")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		bulk := *hook != "" || *state != "" || *since != "" || *until != ""
		switch {
		case len(pos) == 1 && !bulk && !*dry:
		case len(pos) == 0 && bulk:
		case len(pos) == 0 && *dry:
			return &UsageError{Msg: "-dry-run needs a bulk filter: -hook, -state, -since or -until"}
		default:
			return &UsageError{Msg: "usage: webhookd " + c.Name + " " + c.Args + "\n(an EVENT_ID, or bulk filters, not both)"}
		}
		if err := checkState(*state); err != nil {
			return err // found here, daemon or not
		}
		_, cl, err := af.dial()
		if err != nil {
			return err
		}
		if !bulk {
			return replayOne(ctx, env, cl, pos[0], *action, *af.json)
		}
		q := url.Values{}
		now := time.Now()
		for k, v := range map[string]string{"hook": *hook, "state": *state, "action": *action} {
			if v != "" {
				q.Set(k, v)
			}
		}
		for k, v := range map[string]string{"since": *since, "until": *until} {
			if v == "" {
				continue
			}
			t, err := parseWhen(v, now)
			if err != nil {
				return &UsageError{Msg: "-" + k + " " + err.Error()}
			}
			q.Set(k, t.UTC().Format(time.RFC3339))
		}
		if *dry {
			q.Set("dry_run", "true")
		}
		return replayBulk(ctx, env, cl, q, *dry, *af.json)
	}
	return c
}

func replayOne(ctx context.Context, env *Env, cl *adminClient, id, action string, asJSON bool) error {
	q := url.Values{}
	if action != "" {
		q.Set("action", action)
	}
	var out admin.ReplayJSON
	if err := cl.call(ctx, "POST", "/api/events/"+url.PathEscape(id)+"/replay", q, &out); err != nil {
		return replayErr(err)
	}
	if asJSON {
		return printJSON(env.Stdout, out)
	}
	queued := 0
	for _, j := range out.Jobs {
		if j.State == store.Pending {
			queued++
		}
	}
	fmt.Fprintf(env.Stdout, "event %s: %d of %s queued to run\n", id, queued, plural(len(out.Jobs), "job"))
	tw := newTable(env.Stdout)
	for _, j := range out.Jobs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", j.ID, j.Action, admin.Verdict(j))
	}
	tw.Flush()
	return nil
}

// replayErr explains the one error a reading command would hide: writing
// needs the daemon.
func replayErr(err error) error {
	if errors.Is(err, errNotRunning) {
		return fmt.Errorf("%w: replay, retry, cancel, pause and resume need the running daemon", err)
	}
	return err
}

// BulkResult is what `replay -json` prints for a bulk replay.
type BulkResult struct {
	Total  int               `json:"total"`
	Events []admin.BulkEvent `json:"events"`
	Done   *admin.BulkDone   `json:"done"`
}

func replayBulk(ctx context.Context, env *Env, cl *adminClient, q url.Values, dry, asJSON bool) error {
	res, err := cl.request(ctx, "POST", "/api/replay", q)
	if err != nil {
		return replayErr(err)
	}
	defer res.Body.Close()
	label := "replaying"
	if dry {
		label = "listing"
	}
	bar := newProgress(env.Stderr, label)
	out := BulkResult{Events: []admin.BulkEvent{}}
	var failed []admin.BulkEvent
	stopped := false // by the daemon, with an error line
	err = readBulk(res.Body, func(l admin.BulkLine) error {
		switch {
		case l.Counted != nil || l.At != "":
			// The daemon counts the events that match, or walks pages
			// that match none: it is at work.
		case l.Total != nil:
			out.Total = *l.Total
			bar.setTotal(int64(out.Total))
		case l.Event != nil:
			out.Events = append(out.Events, *l.Event)
			if l.Event.Error != "" {
				failed = append(failed, *l.Event)
			}
			bar.step()
		case l.Done != nil:
			out.Done = l.Done
		case l.Error != "":
			stopped = true
			return fmt.Errorf("bulk replay stopped: %s", l.Error)
		}
		return nil
	})
	bar.finish()
	if err == nil && out.Done == nil {
		err = fmt.Errorf("bulk replay: the daemon's answer was cut off after %d of %d events", len(out.Events), out.Total)
	}
	if err != nil && !stopped {
		if ctx.Err() != nil {
			err = fmt.Errorf("bulk replay: interrupted (%v) after %d of %d events", context.Cause(ctx), len(out.Events), out.Total)
		}
		if !dry {
			// The daemon stops when its client goes, but the event it
			// was at may be replayed, and its line lost.
			err = fmt.Errorf("%w; replays past the last one it reported may still be made: look (webhookd show, events) before asking again", err)
		}
	}
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		printBulk(env.Stdout, out, dry)
	}
	for _, e := range failed {
		fmt.Fprintf(env.Stderr, "webhookd: event %s: %s\n", e.ID, e.Error)
	}
	if len(failed) > 0 && dry {
		return fmt.Errorf("%d of %s would fail to replay", len(failed), plural(out.Done.Matched, "event"))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %s could not be replayed", len(failed), plural(out.Done.Matched, "event"))
	}
	return nil
}

func readBulk(r io.Reader, fn func(admin.BulkLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l admin.BulkLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("bulk replay: a line of the answer: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bulk replay: reading the answer: %w", err)
	}
	return nil
}

func printBulk(w io.Writer, out BulkResult, dry bool) {
	if dry {
		if len(out.Events) > 0 {
			tw := newTable(w)
			fmt.Fprintln(tw, "ID\tRECEIVED\tHOOK\tEVENT\tSTATE")
			for _, e := range out.Events {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, stamp(e.Received), e.Hook, orDash(cell(e.Type)), e.State)
			}
			tw.Flush()
		}
		if out.Done.Failed > 0 {
			fmt.Fprintf(w, "%d of %s would be replayed, %d would fail (dry run: nothing was queued)\n", out.Done.Matched-out.Done.Failed, plural(out.Done.Matched, "event"), out.Done.Failed)
			return
		}
		fmt.Fprintf(w, "%s would be replayed (dry run: nothing was queued)\n", plural(out.Done.Matched, "event"))
		return
	}
	fmt.Fprintf(w, "replayed %d of %s: %s queued", out.Done.Replayed, plural(out.Done.Matched, "event"), plural(out.Done.Jobs, "job"))
	if out.Done.Failed > 0 {
		fmt.Fprintf(w, ", %d failed", out.Done.Failed)
	}
	fmt.Fprintln(w)
}

// plural is "1 event", "2 events".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
