package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// TestExec_ScriptThatCannotStart: a script the kernel refuses to start
// fails with an error that says why, not "no such file or directory" for
// a file that is there: one saved with Windows line endings (its #! line
// names "/bin/sh\r"), one whose interpreter is not installed, one without
// a #! line, one without the exec bit.
func TestExec_ScriptThatCannotStart(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
		mode       os.FileMode
	}{
		{"crlf", "#!/bin/sh\r\necho deployed\r\n", []string{"CRLF", "/bin/sh"}, 0},
		{"missing interpreter", "#!/usr/bin/no-such-interpreter -x\necho deployed\n", []string{"interpreter /usr/bin/no-such-interpreter", "not found"}, 0},
		{"without a shebang", "echo deployed\n", []string{"no #! line"}, 0},
		{"not executable", "#!/bin/sh\necho deployed\n", []string{"not executable", "chmod +x"}, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "deploy.sh")
			if tc.mode == 0 {
				tc.mode = 0o755
			}
			if err := os.WriteFile(p, []byte(tc.body), tc.mode); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, execAction("h", "deploy", p))
			j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
			for _, w := range tc.want {
				if j.State != store.Dead || !strings.Contains(j.Reason, w) {
					t.Errorf("job %s: %q; want it dead with a reason that says %q", j.State, j.Reason, w)
				}
			}
		})
	}
}
