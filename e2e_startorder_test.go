package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestE2E_FailedStartRunsNothing: a start that fails because a port is
// taken (here the admin listener's: another program holds it) starts none
// of the jobs queued in the store. It started the scheduler before it
// bound its listeners, so a queued deploy began and was stopped at once by
// the failed start (2 of 3 runs of this test recorded attempts); under
// systemd's Restart=on-failure, again every few seconds.
func TestE2E_FailedStartRunsNothing(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	cfg := strings.Replace(schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./deploy.sh"]
`), "[admin]\nlisten = \"127.0.0.1:0\"", "[admin]\nlisten = \""+taken.Addr().String()+"\"", 1)
	writeConfig(t, dir, cfg)
	writeScript(t, dir, "deploy.sh", "echo started >> started.log\n")

	// Jobs queued in the store, as a daemon stopped with a backlog leaves
	// them.
	st, err := store.Open(filepath.Join(dir, "webhookd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d-1", "d-2", "d-3"} {
		if _, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Delivery: d,
			Received: time.Now(), Body: []byte(`{}`), Jobs: []store.NewJob{{Action: "deploy", Concurrency: 3}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 5; i++ { // a restart loop's tries
		cmd := exec.Command(binPath, "serve", "-config", filepath.Join(dir, "webhookd.toml"))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), runDirsEnv(t, dir)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "address already in use") {
			t.Fatalf("start on a taken port = %v; want it to fail for the port:\n%s", err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "started.log")); err == nil {
		t.Errorf("failed starts ran the queued job's script")
	}
	ro := openStore(t, filepath.Join(dir, "webhookd.db"))
	jobs, _, err := ro.ListJobs(store.Pending, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Errorf("pending jobs after the failed starts: %d; want the 3 queued", len(jobs))
	}
	for _, j := range jobs {
		if j.Attempts != 0 {
			t.Errorf("job %s after the failed starts: %d attempts; want none", j.ID, j.Attempts)
		}
	}
}
