package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// TestReplay_DryRunThatWouldFail: a bulk dry run whose replays would all
// fail (an action misspelt) said "2 events would be replayed", then, on
// stderr and in its exit, that they "could not be replayed", as if it had
// tried. It says how many would be replayed and how many would fail.
func TestReplay_DryRunThatWouldFail(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "w.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &actions.Action{Hook: "site", Name: "deploy", Concurrency: 1, Timeout: time.Second, Backoff: time.Hour,
		Run: []*tmpl.Template{tmpl.MustParse("run", "true")}, Dir: dir}
	acfg := actions.NewConfig([]*actions.Action{a})
	sched := actions.New(actions.Options{Store: st, Logger: log, TempDir: dir}, acfg)
	if err := sched.SetPaused(context.Background(), "site", "deploy", true); err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sched.Close() })
	for range 2 {
		d := &tmpl.Data{Hook: "site", Event: "push", ContentType: "application/json", Body: []byte(`{}`), Headers: map[string]string{}, Query: map[string]string{}}
		if _, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", ContentType: "application/json",
			Received: time.Now(), Body: []byte(`{}`), Jobs: acfg.Plan("site", d)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := admin.New(admin.Options{Addr: "127.0.0.1:0", Store: st, Scheduler: sched, Logger: log,
		Status: func() admin.Status { return admin.Status{} }, Metrics: admin.NewMetrics(st, nil)})
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)
	cfg := filepath.Join(dir, "webhookd.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[admin]\nlisten = %q\n", api.Listener.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	err = cmdReplay().Run(context.Background(), env, []string{"-config", cfg, "-hook", "site", "-action", "deplyo", "-dry-run"})
	out := stdout.String() + stderr.String()
	if err == nil {
		t.Fatalf("dry run of replays that would fail: no error\n%s", out)
	}
	if !strings.Contains(stdout.String(), "0 of 2 events would be replayed, 2 would fail") {
		t.Errorf("dry run of replays that would fail printed:\n%s\nwant none would be replayed, 2 would fail", stdout.String())
	}
	if strings.Contains(out+err.Error(), "could not be replayed") {
		t.Errorf("dry run said replays were tried: %v\n%s", err, out)
	}
}
