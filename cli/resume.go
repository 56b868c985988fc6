package cli

import "context"

func cmdResume() *Command {
	c := &Command{
		Name:    "resume",
		Args:    "[-config FILE] HOOK/ACTION",
		Summary: "let a paused action run again",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		return setPaused(ctx, env, c, args, "resume")
	}
	return c
}
