package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestExec_TimeoutContinuesStopped: a command that is stopped when its
// timeout comes (one that read from the terminal webhookd was started in,
// and got SIGTTIN; or a SIGSTOP) gets its SIGTERM at once, and its trap
// cleans up, rather than waiting, stopped, for the SIGKILL at the end of
// the grace.
func TestExec_TimeoutContinuesStopped(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "cleaned-up")
	sh := script(t, dir, "stops.sh", "trap 'echo cleaned > "+marker+"; exit 1' TERM\necho started\nkill -STOP $$\necho continued\n")
	a := execAction("h", "deploy", sh)
	a.Timeout = 300 * time.Millisecond
	h := newHarness(t, a) // KillGrace: 1s
	j := h.waitState(h.ingest("h", `{}`), store.Dead)
	if !strings.Contains(j.Reason, "timed out") {
		t.Errorf("reason = %q; want it timed out", j.Reason)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the stopped command's SIGTERM trap did not run: %v", err)
	}
	runs, _ := h.st.Runs(j.ID)
	if d := runs[0].Finished.Sub(runs[0].Started); d > 900*time.Millisecond {
		t.Errorf("run took %v; want it ended soon after its 300ms timeout, not at the 1s grace's SIGKILL", d)
	}
}
