package cli

import (
	"context"
	"fmt"
)

func cmdVersion() *Command {
	c := &Command{
		Name:    "version",
		Summary: "print the version, commit and Go version",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return &UsageError{Msg: fmt.Sprintf("version takes no arguments (got %q)", fs.Arg(0))}
		}
		fmt.Fprintln(env.Stdout, env.Version)
		return nil
	}
	return c
}
