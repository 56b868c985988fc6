package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
type UsageError struct {
	Msg string
	// Printed: the message is on standard error already (the flag
	// package prints a bad flag's error with the usage), and is not
	// printed again.
	Printed bool
}

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
		fmt.Fprintf(env.Stderr, "usage: webhookd %s\n", strings.TrimSpace(c.Name+" "+c.Args))
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
		return &UsageError{Msg: err.Error(), Printed: true}
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
		def = DefaultConfig
	}
	return fs.String("config", def, "config `file`; without it, $WEBHOOKD_CONFIG, then ./webhookd.toml")
}

// DefaultConfig is the config file of a command given neither -config nor
// $WEBHOOKD_CONFIG: webhookd.toml in the working directory.
const DefaultConfig = "webhookd.toml"

// ConfigHint is err, from loading the config file at path, with what to do
// when path is the default and no such file is here: an operator's shell
// is seldom in the directory of the service's file.
func ConfigHint(err error, path string) error {
	if err == nil || path != DefaultConfig {
		return err
	}
	if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
		return err
	}
	return fmt.Errorf("%w (no ./webhookd.toml here: name the config with -config FILE or $WEBHOOKD_CONFIG, such as -config /etc/webhookd/webhookd.toml)", err)
}
