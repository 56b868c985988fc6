package cli

import (
	"context"
	"fmt"
	"os"
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
			return ConfigHint(err, *path)
		}
		dst := cfg.StorePath
		if *out != "" {
			dst = *out
			if sameFile(dst, cfg.StorePath) {
				// -o promises to leave the database alone: the copy
				// would be renamed over it (or over a link to it).
				return fmt.Errorf("compact: -o %s is the database itself; name another file, or leave -o out to compact the database in place", dst)
			}
			if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
				// Found now, not by the rename after the whole rewrite.
				return fmt.Errorf("compact: -o %s is a directory; name the copy's file, such as %s", dst, copyIn(dst, cfg.StorePath, "compacted"))
			}
		}
		bar := newByteProgress(env.Stderr, "compacting "+cfg.StorePath)
		start := time.Now()
		res, err := store.Compact(ctx, cfg.StorePath, dst, func(done, total int64) {
			bar.total = total // an estimate, which may grow
			bar.set(done)
		})
		bar.finish()
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
