package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/webhookd/webhookd/admin"
)

func cmdPause() *Command {
	c := &Command{
		Name:    "pause",
		Args:    "[-config FILE] HOOK/ACTION",
		Summary: "hold new runs of an action (events are still stored; its jobs wait)",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		return setPaused(ctx, env, c, args, "pause")
	}
	return c
}

// setPaused is pause and resume: POST /api/actions/{hook}/{action}/{verb}.
func setPaused(ctx context.Context, env *Env, c *Command, args []string, verb string) error {
	fs := newFlags(env, c)
	af := addAPIFlags(fs, env)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &UsageError{Msg: "usage: webhookd " + c.Name + " " + c.Args}
	}
	hook, action, ok := strings.Cut(pos[0], "/")
	if !ok || hook == "" || action == "" || strings.Contains(action, "/") {
		return &UsageError{Msg: fmt.Sprintf("%q: want HOOK/ACTION, such as site/deploy", pos[0])}
	}
	_, cl, err := af.dial()
	if err != nil {
		return err
	}
	var a admin.ActionJSON
	path := "/api/actions/" + url.PathEscape(hook) + "/" + url.PathEscape(action) + "/" + verb
	if err := cl.call(ctx, "POST", path, nil, &a); err != nil {
		return replayErr(err)
	}
	if *af.json {
		return printJSON(env.Stdout, a)
	}
	if a.Paused {
		fmt.Fprintf(env.Stdout, "%s/%s paused: its jobs wait until `webhookd resume %s/%s`\n", a.Hook, a.Action, a.Hook, a.Action)
	} else {
		fmt.Fprintf(env.Stdout, "%s/%s resumed\n", a.Hook, a.Action)
	}
	return nil
}
