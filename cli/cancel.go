package cli

import "context"

func cmdCancel() *Command {
	c := &Command{
		Name:    "cancel",
		Args:    "[-config FILE] [-json] JOB_ID",
		Summary: "cancel a queued job, or stop a running one",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		return jobCommand(ctx, env, c, args, "cancel")
	}
	return c
}
