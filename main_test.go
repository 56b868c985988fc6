package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `webhookd` (serve) with no -config, no $WEBHOOKD_CONFIG and no
// ./webhookd.toml says how to name the file, as the other commands do.
func TestServe_MissingDefaultConfigSaysWhatToDo(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WEBHOOKD_CONFIG", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-config FILE") || !strings.Contains(err.Error(), "WEBHOOKD_CONFIG") {
		t.Errorf("webhookd with no config: %v; want it to say -config FILE or $WEBHOOKD_CONFIG", err)
	}
}

// `webhookd` (serve) without -config reads $WEBHOOKD_CONFIG before
// ./webhookd.toml, and -config before both: each names a file that does
// not exist, and the start must fail on that one, by name.
func TestServe_ConfigFlagThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// A ./webhookd.toml read in their place fails too (nothing starts),
	// but not by their names.
	if err := os.WriteFile("webhookd.toml", []byte("[not_a_table]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromEnv, fromFlag := filepath.Join(dir, "from-env.toml"), filepath.Join(dir, "from-flag.toml")
	t.Setenv("WEBHOOKD_CONFIG", fromEnv)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, fromEnv},
		{[]string{"serve"}, fromEnv},
		{[]string{"-config", fromFlag}, fromFlag},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("webhookd %q with $WEBHOOKD_CONFIG set: %v; want an error naming %s", tc.args, err, tc.want)
		}
	}
}
