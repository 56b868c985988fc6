package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"strings"
)

// Env is what a command may touch of the world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Version describes the binary, for `webhookd version`.
	Version string
}

// Command is one subcommand.
type Command struct {
	Name    string
	Args    string // the synopsis after the name, for usage
	Summary string
	Run     func(ctx context.Context, env *Env, args []string) error
}

// UsageError is a command line that makes no sense: exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Commands lists every command, in the order usage shows them. Each file
// of this package defines one as a function returning it.
func Commands() []*Command {
	return []*Command{
		cmdCheck(),
		cmdSend(),
		cmdEvents(),
		cmdShow(),
		cmdReplay(),
		cmdRetry(),
		cmdCancel(),
		cmdPause(),
		cmdResume(),
		cmdBackup(),
		cmdCompact(),
		cmdVersion(),
	}
}

// Find returns the named command, or nil.
func Find(name string) *Command {
	for _, c := range Commands() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Usage is the list of commands.
func Usage() string {
	var b strings.Builder
	b.WriteString("usage: webhookd [command] [flags]\n\n")
	b.WriteString(fmt.Sprintf("  %-40s %s\n", "serve [-config FILE]", "run the daemon (the default command)"))
	cmds := Commands()
	for _, c := range cmds {
		synopsis := strings.TrimSpace(c.Name + " " + c.Args)
		if len(synopsis) > 40 {
			// Too long for the column: the summary goes on its own line.
			b.WriteString(fmt.Sprintf("  %s\n  %-40s %s\n", synopsis, "", c.Summary))
			continue
		}
		b.WriteString(fmt.Sprintf("  %-40s %s\n", synopsis, c.Summary))
	}
	return b.String()
}

// newFlags makes a command's flag set, writing its errors to env.Stderr.
func newFlags(env *Env, c *Command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: webhookd %s %s\n", c.Name, c.Args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; a bad flag is a UsageError, and -h (the usage
// printed) flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// ConfigFlag adds -config: $WEBHOOKD_CONFIG, then ./webhookd.toml.
func ConfigFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	if getenv == nil {
		getenv = os.Getenv
	}
	def := getenv("WEBHOOKD_CONFIG")
	if def == "" {
		def = "webhookd.toml"
	}
	return fs.String("config", def, "config `file`; without it, $WEBHOOKD_CONFIG, then ./webhookd.toml")
}
