package actions

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// TestExec_HideEnv: a command inherits the daemon's environment except
// the variables that hold its secrets; an action's own env may still set
// one on purpose.
func TestExec_HideEnv(t *testing.T) {
	t.Setenv("WEBHOOKD_TEST_HOOK_SECRET", "hook-secret-value")
	t.Setenv("WEBHOOKD_TEST_ADMIN_TOKEN", "admin-token-value")
	t.Setenv("WEBHOOKD_TEST_PLAIN", "plain-value")
	dir := t.TempDir()
	sh := script(t, dir, "env.sh", "env\n")
	a := execAction("h", "env", sh)
	a.Env = []EnvVar{{Name: "PASSED_ON_PURPOSE", Value: mustTmpl(`{{ env "WEBHOOKD_TEST_ADMIN_TOKEN" }}`)}}
	h := newHarness(t, a)
	cfg := NewConfig([]*Action{a})
	cfg.HideEnv = map[string]bool{"WEBHOOKD_TEST_HOOK_SECRET": true, "WEBHOOKD_TEST_ADMIN_TOKEN": true}
	h.s.SetConfig(cfg)
	h.cfg = cfg
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded)
	runs, err := h.st.Runs(j.ID)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	out := string(runs[0].Output)
	if strings.Contains(out, "hook-secret-value") || strings.Contains(out, "WEBHOOKD_TEST_ADMIN_TOKEN=") {
		t.Errorf("the command inherited a secret variable:\n%s", out)
	}
	for _, want := range []string{"WEBHOOKD_TEST_PLAIN=plain-value", "PASSED_ON_PURPOSE=admin-token-value", "WEBHOOKD_EVENT_ID="} {
		if !strings.Contains(out, want) {
			t.Errorf("the command's environment lacks %s:\n%s", want, out)
		}
	}
}
