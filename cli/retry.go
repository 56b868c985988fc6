package cli

import (
	"context"
	"fmt"
	"net/url"

	"github.com/webhookd/webhookd/admin"
)

func cmdRetry() *Command {
	c := &Command{
		Name:    "retry",
		Args:    "[-config FILE] [-json] JOB_ID",
		Summary: "run a failed, dead, skipped or cancelled job again now",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		return jobCommand(ctx, env, c, args, "retry")
	}
	return c
}

// jobCommand is retry and cancel: POST /api/jobs/{id}/{verb}.
func jobCommand(ctx context.Context, env *Env, c *Command, args []string, verb string) error {
	fs := newFlags(env, c)
	af := addAPIFlags(fs, env)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &UsageError{Msg: "usage: webhookd " + c.Name + " " + c.Args}
	}
	_, cl, err := af.dial()
	if err != nil {
		return err
	}
	within := cl.bounds.answer
	if verb == "cancel" {
		within = cl.bounds.slowAnswer // the daemon waits for a run to stop
	}
	var j admin.JobJSON
	if err := cl.callWithin(ctx, "POST", "/api/jobs/"+url.PathEscape(pos[0])+"/"+verb, nil, &j, within); err != nil {
		return replayErr(err)
	}
	if *af.json {
		return printJSON(env.Stdout, j)
	}
	fmt.Fprintf(env.Stdout, "job %s (%s/%s of event %s): %s\n", j.ID, j.Hook, j.Action, j.EventID, admin.Verdict(j))
	return nil
}
