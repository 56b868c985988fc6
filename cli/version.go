package cli

import (
	"context"
	"fmt"
)

func cmdVersion() *Command {
	return &Command{
		Name:    "version",
		Summary: "print the version, commit and Go version",
		Run: func(ctx context.Context, env *Env, args []string) error {
			fmt.Fprintln(env.Stdout, env.Version)
			return nil
		},
	}
}
