package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

func cmdCompact() *Command {
	c := &Command{
		Name:    "compact",
		Args:    "[-config FILE] [-o FILE]",
		Summary: "rewrite the database without its free space (webhookd must be stopped)",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		path := ConfigFlag(fs, env.Getenv)
		out := fs.String("o", "", "write the compacted copy to `FILE` and leave the database as it is")
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return &UsageError{Msg: "usage: webhookd compact [-config FILE] [-o FILE]"}
		}
		cfg, err := config.LoadClient(*path)
		if err != nil {
			return err
		}
		dst := cfg.StorePath
		if *out != "" {
			dst = *out
		}
		tty := isTerminal(env.Stderr)
		var last time.Time
		progress := func(done, total int64) {
			if !tty || time.Since(last) < 200*time.Millisecond && done < total {
				return
			}
			last = time.Now()
			pct := int64(100)
			if total > 0 && done < total {
				pct = done * 100 / total
			}
			fmt.Fprintf(env.Stderr, "\rcompacting %s: %d%% (%s of about %s)\033[K", cfg.StorePath, pct, bytesHuman(done), bytesHuman(total))
		}
		start := time.Now()
		res, err := store.Compact(ctx, cfg.StorePath, dst, progress)
		if tty && !last.IsZero() {
			fmt.Fprint(env.Stderr, "\r\033[K")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "compacted %s: %s -> %s in %s", cfg.StorePath, bytesHuman(res.Before), bytesHuman(res.After), time.Since(start).Round(time.Millisecond))
		if dst != cfg.StorePath {
			fmt.Fprintf(env.Stdout, " (written to %s)", dst)
		}
		fmt.Fprintln(env.Stdout)
		return nil
	}
	return c
}
