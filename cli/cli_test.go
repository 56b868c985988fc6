package cli

import (
	"bytes"
	"context"
	"errors"
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
