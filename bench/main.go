// Command webhookd-bench measures webhookd on one machine: a load tool that
// POSTs correctly signed GitHub deliveries over keep-alive connections
// (closed loop, or open loop at a fixed arrival rate), the servers it is
// compared with (a bare net/http handler; a naive verify-then-group-commit
// handler; webhookd's own listener and store in-process, with or without
// group commit), the disk's fsync rate, a
// filler that builds a store with a large backlog through the store
// package, a timer for daemon start-up, and a bare fork/exec loop.
//
// It only ever talks to loopback addresses. bench/run.sh drives it and
// writes docs/benchmarks.md.
//
//	go build -o /tmp/webhookd-bench ./bench
//	/tmp/webhookd-bench load -url http://127.0.0.1:9000/hooks/bench -secret s -c 64 -d 5s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"load", "POST signed GitHub deliveries; closed loop (-c) or open loop (-rate)", runLoad},
		{"bare", "serve a bare net/http handler: read the body, answer 200", runBare},
		{"serve", "serve webhookd's listener and store in-process (-no-group-commit to compare)", runServe},
		{"naive", "serve a naive verify-then-group-commit handler (issue 8's reference point)", runNaive},
		{"fsync", "measure the disk's fsync rate (4 KiB pwrite + fdatasync)", runFsync},
		{"fill", "build a store with N pending jobs through the store package", runFill},
		{"startup", "time a webhookd start (until /healthz answers) and its idle RssAnon", runStartup},
		{"sched", "time webhookd running a prefilled store's jobs to the end", runSched},
		{"forkexec", "fork/exec a command N times at parallelism P (the bare baseline)", runForkExec},
		{"suite", "run every measurement, alternating, and write docs/benchmarks.md (see bench/run.sh)", runSuite},
	}
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{usage()}
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return &usageError{fmt.Sprintf("unknown command %q\n%s", args[0], usage())}
}

func usage() string {
	s := "usage: webhookd-bench COMMAND [flags]\n\ncommands:\n"
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		s += fmt.Sprintf("  %-9s %s\n", c.name, c.summary)
	}
	return s
}

// parse parses a subcommand's flags, turning errors into usage errors.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 && fs.Name() != "forkexec" {
		return &usageError{fmt.Sprintf("%s: unexpected arguments %q", fs.Name(), fs.Args())}
	}
	return nil
}
