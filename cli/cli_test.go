package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the named command as main does and returns its output.
func runCmd(t *testing.T, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := Find(name)
	if c == nil {
		t.Fatalf("no command %q", name)
	}
	var o, e bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }, Version: "webhookd test"}
	err = c.Run(context.Background(), env, args)
	return o.String(), e.String(), err
}

// `webhookd version` takes nothing: an argument or a flag is a command
// line that makes no sense (exit 2), not a version printed as if all
// were well; -h is its usage.
func TestVersion_Usage(t *testing.T) {
	if out, _, err := runCmd(t, "version"); err != nil || out != "webhookd test\n" {
		t.Fatalf("version = %q, %v", out, err)
	}
	for _, args := range [][]string{{"extra"}, {"-x"}, {"-config", "x.toml"}} {
		out, _, err := runCmd(t, "version", args...)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("version %q = %q, %v; want a usage error", args, out, err)
		}
	}
}

// With no -config and no $WEBHOOKD_CONFIG, a command looks for
// ./webhookd.toml; when there is none (an operator in their home
// directory, the service's file in /etc/webhookd), the error says how to
// name the file, not only that ./webhookd.toml is missing.
func TestConfig_MissingDefaultSaysWhatToDo(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"events"}, {"show", "06H4WK95M0000000"}, {"replay", "06H4WK95M0000000"}, {"backup", "copy.db"}, {"compact"}, {"check"}, {"send", "site", "{}"}} {
		_, _, err := runCmd(t, args[0], args[1:]...)
		if err == nil || !strings.Contains(err.Error(), "-config FILE") || !strings.Contains(err.Error(), "WEBHOOKD_CONFIG") {
			t.Errorf("%s: %v; want it to say -config FILE or $WEBHOOKD_CONFIG", args, err)
		}
	}
}

// check's summary counts in words that agree with the number: "1 hook,
// 1 action" (it said "1 hooks, 1 actions"), "2 hooks, 3 actions".
func TestCheck_Summary(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
	}{
		{"one", "[[hook]]\nid = \"a\"\nprovider = \"none\"\n[[hook.action]]\nname = \"x\"\nrun = [\"true\"]\n", "ok (1 hook, 1 action)\n"},
		{"more", "[[hook]]\nid = \"a\"\nprovider = \"none\"\n[[hook.action]]\nname = \"x\"\nrun = [\"true\"]\n[[hook.action]]\nname = \"y\"\nrun = [\"true\"]\n[[hook]]\nid = \"b\"\nprovider = \"none\"\n[[hook.action]]\nname = \"x\"\nrun = [\"true\"]\n", "ok (2 hooks, 3 actions)\n"},
		{"none", "", "ok (0 hooks, 0 actions)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "webhookd.toml")
			if err := os.WriteFile(path, []byte("[store]\npath = \"x.db\"\n"+tc.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := runCmd(t, "check", "-config", path)
			if err != nil || out != path+": "+tc.want {
				t.Errorf("check = %q, %v (%s); want %q", out, err, stderr, path+": "+tc.want)
			}
		})
	}
}

// A command's usage line ends where its synopsis does: `version`, which
// takes no arguments, printed "usage: webhookd version " with a space.
func TestUsage_NoTrailingSpace(t *testing.T) {
	_, stderr, err := runCmd(t, "version", "-h")
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("version -h: %v", err)
		}
	}
	first, _, _ := strings.Cut(stderr, "\n")
	if first != "usage: webhookd version" {
		t.Errorf("version -h: first line %q; want %q", first, "usage: webhookd version")
	}
}

// Every command but version takes -config, and without it reads
// $WEBHOOKD_CONFIG before ./webhookd.toml (README, Commands): each one is
// run on a file named in each way that does not exist, and must fail on
// that file, by name.
func TestConfig_FlagThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// A ./webhookd.toml that the command must not read in their place (it fails
	// too, so that nothing is sent or opened, but not by their names).
	if err := os.WriteFile(DefaultConfig, []byte("[not_a_table]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromEnv := filepath.Join(dir, "from-env.toml")
	fromFlag := filepath.Join(dir, "from-flag.toml")
	args := map[string][]string{
		"check": nil, "send": {"site", "{}"}, "events": nil, "show": {"06H4WK95M0000000"},
		"replay": {"06H4WK95M0000000"}, "retry": {"06H4WK95M0000001"}, "cancel": {"06H4WK95M0000001"},
		"pause": {"site/deploy"}, "resume": {"site/deploy"}, "backup": {"copy.db"}, "compact": nil,
	}
	for _, c := range Commands() {
		if c.Name == "version" {
			continue
		}
		a, ok := args[c.Name]
		if !ok {
			t.Errorf("command %s: not in this test's list", c.Name)
			continue
		}
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"environment", a, fromEnv},
			{"flag", append([]string{"-config", fromFlag}, a...), fromFlag},
		} {
			var o, e bytes.Buffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Version: "webhookd test",
				Getenv: func(k string) string {
					if k == "WEBHOOKD_CONFIG" {
						return fromEnv
					}
					return ""
				}}
			err := c.Run(context.Background(), env, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %q with $WEBHOOKD_CONFIG set (%s): %v; want an error naming %s", c.Name, tc.args, tc.name, err, tc.want)
			}
		}
	}
}
