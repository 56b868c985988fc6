package cli

import (
	"errors"
	"testing"
)

// A bulk replay's -state that names no state is a usage error (exit 2)
// whether or not a daemon runs; with none running it was "need the
// running daemon" (exit 1), and the bad value came to light only later.
func TestReplay_BadStateIsUsage(t *testing.T) {
	_, cfg := offlineConfig(t)
	for _, args := range [][]string{
		{"-config", cfg, "-hook", "site", "-state", "bogus"},
		{"-config", cfg, "-state", "Dead", "-dry-run"},
	} {
		_, _, err := runCmd(t, "replay", args...)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("replay %q: %v; want a usage error", args, err)
		}
	}
}
