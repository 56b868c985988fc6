package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

func cmdEvents() *Command {
	c := &Command{
		Name:    "events",
		Args:    "[-config FILE] [-hook ID] [-state S] [-n N] [-before ID] [-json]",
		Summary: "list recent events, newest first, with what each action did",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		af := addAPIFlags(fs, env)
		hook := fs.String("hook", "", "only this hook's events")
		state := fs.String("state", "", "only events in this `state`: pending, running, succeeded, dead, cancelled, skipped")
		n := fs.Int("n", 20, "at most `N` events (1 to 500)")
		before := fs.String("before", "", "events older than this event `ID` (the next page)")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return &UsageError{Msg: "events takes no arguments, only flags\nusage: webhookd events " + c.Args}
		}
		if *n < 1 || *n > admin.MaxLimit {
			return &UsageError{Msg: fmt.Sprintf("-n %d: want 1 to %d", *n, admin.MaxLimit)}
		}
		q := url.Values{"limit": {strconv.Itoa(*n)}}
		for k, v := range map[string]string{"hook": *hook, "state": *state, "before": *before} {
			if v != "" {
				q.Set(k, v)
			}
		}
		cfg, cl, err := af.dial()
		if err != nil {
			return err
		}
		var list admin.EventListJSON
		err = cl.call(ctx, "GET", "/api/events", q, &list)
		if errors.Is(err, errNotRunning) {
			list, err = eventsOffline(q, func() (*store.Store, error) { return openOffline(env, cfg, err) })
		}
		if err != nil {
			return err
		}
		if *af.json {
			return printJSON(env.Stdout, list)
		}
		printEvents(env.Stdout, list, nextCommand(fs), unknownHook(cfg, *hook))
		return nil
	}
	return c
}

// eventsOffline lists events from the database file when no daemon runs.
func eventsOffline(q url.Values, open func() (*store.Store, error)) (admin.EventListJSON, error) {
	var list admin.EventListJSON
	f := store.EventFilter{Hook: q.Get("hook"), State: store.State(q.Get("state")), Before: q.Get("before")}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if err := checkState(string(f.State)); err != nil {
		return list, err
	}
	if f.Before != "" && !store.ValidID(f.Before) {
		return list, &UsageError{Msg: fmt.Sprintf("-before %q is not an event id", f.Before)}
	}
	st, err := open()
	if err != nil {
		return list, err
	}
	defer st.Close()
	evs, next, err := st.ListEvents(f)
	if err != nil {
		return list, err
	}
	held, err := admin.OfflineHeld(st)
	if err != nil {
		return list, err
	}
	list.Events, list.Next = []admin.EventJSON{}, next
	for _, v := range evs {
		ev := admin.EventSummary(v, held)
		admin.MarkCutOff(&ev)
		list.Events = append(list.Events, ev)
	}
	return list, nil
}

// checkState is a UsageError unless s is "" or an event's state, as the
// admin API takes it for -state.
func checkState(s string) error {
	if s != "" && !slices.Contains(admin.EventStates, store.State(s)) {
		return &UsageError{Msg: fmt.Sprintf("-state %q: want one of %v", s, admin.EventStates)}
	}
	return nil
}

// nextCommand is the events command that shows the page after this one,
// but for its -before: the flags given, as a shell would take them back.
func nextCommand(fs *flag.FlagSet) string {
	cmd := "webhookd events"
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "before" && f.Name != "json" {
			cmd += " -" + f.Name + " " + shellQuote(f.Value.String())
		}
	})
	return cmd
}

// shellQuote quotes s for a POSIX shell where it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@,+-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// unknownHook says that the config has no hook id ("" when it has, or
// when id is ""), naming the hooks it has: a hook filter that matches no
// event may be a misspelt id. (A hook taken out of the config keeps its
// events, which the filter still finds.)
func unknownHook(cfg *config.Client, id string) string {
	if id == "" {
		return ""
	}
	var ids []string
	for _, h := range cfg.Hooks {
		if h.ID == id {
			return ""
		}
		ids = append(ids, h.ID)
	}
	if len(ids) == 0 {
		return fmt.Sprintf("the config has no hook %q (it has none)", id)
	}
	return fmt.Sprintf("the config has no hook %q (its hooks: %s)", id, strings.Join(ids, ", "))
}

// printEvents writes a table of events: one line each, with every
// action's state, then how to see more: next, the command, with -before.
// A page can be empty and still have more (one listing looks at a bounded
// number of events, and none of them matched): then it says so, and how
// to see more. noHook, when set, says that the hook filter names no hook
// of the config: the end of an empty list says it.
func printEvents(w io.Writer, list admin.EventListJSON, next, noHook string) {
	switch {
	case len(list.Events) == 0 && list.Next == "":
		if noHook != "" {
			fmt.Fprintf(w, "no events: %s\n", cell(noHook))
			return
		}
		fmt.Fprintln(w, "no events")
		return
	case len(list.Events) == 0:
		fmt.Fprintln(w, "none of the most recent events match; older ones may")
	default:
		tw := newTable(w)
		fmt.Fprintln(tw, "ID\tRECEIVED\tHOOK\tEVENT\tSTATE\tACTIONS")
		for _, ev := range list.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ev.ID, stamp(ev.Received), ev.Hook, orDash(cell(ev.Event)), ev.State, actionStates(ev.Jobs))
		}
		tw.Flush()
	}
	if list.Next != "" {
		fmt.Fprintf(w, "more: %s -before %s\n", cell(next), list.Next)
	}
}

// actionStates sums an event's jobs up as "deploy=succeeded notify=dead",
// the newest job of each action deciding.
func actionStates(jobs []admin.JobJSON) string {
	if len(jobs) == 0 {
		return "(no actions)"
	}
	var order []string
	latest := map[string]admin.JobJSON{}
	for _, j := range jobs {
		if _, ok := latest[j.Action]; !ok {
			order = append(order, j.Action)
		}
		latest[j.Action] = j
	}
	var parts []string
	for _, a := range order {
		j := latest[a]
		s := a + "=" + string(j.State)
		switch {
		case j.Held != "" && j.State == store.Running:
			s += "(cut off)" // read with no daemon running
		case j.Held != "":
			s += "(held)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
