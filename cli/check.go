package cli

import (
	"context"
	"fmt"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/wire"
)

func cmdCheck() *Command {
	c := &Command{
		Name:    "check",
		Args:    "[-config FILE]",
		Summary: "validate the config; errors as FILE:LINE: message",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		path := ConfigFlag(fs, env.Getenv)
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			// Not a file to check: -config names it.
			return &UsageError{Msg: fmt.Sprintf("usage: webhookd check [-config FILE] (got %q: the file goes after -config)", fs.Arg(0))}
		}
		cfg, warnings, err := config.Load(*path)
		if err != nil {
			return ConfigHint(err, *path)
		}
		if err := cfg.CheckTLSPair(); err != nil {
			return err
		}
		// What serve builds from the file (each hook's verifier), built
		// here too: check passes only a file serve starts on.
		if _, _, err := wire.Build(cfg); err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
		actions := 0
		for _, h := range cfg.Hooks {
			actions += len(h.Actions)
		}
		fmt.Fprintf(env.Stdout, "%s: ok (%s, %s)\n", cfg.File, plural(len(cfg.Hooks), "hook"), plural(actions, "action"))
		return nil
	}
	return c
}
