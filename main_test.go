package main

import (
	"bytes"
	"context"
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
