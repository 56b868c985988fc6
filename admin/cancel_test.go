package admin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// A cancel that comes as a run ends by itself — its command has exited,
// its record not yet written — cannot stop it. Answered 200, it told a
// script the job was cancelled while the job, failed with a retry due,
// ran again later; or succeeded. The job is cancelled if it is still
// queued after the run, and the answer is 409 if it finished.
func TestAPI_CancelRacingFinish(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		retries      int
		want         store.State
		code         int
	}{
		// It exits 1 with a retry left: the job is put back in its
		// queue, where the cancel takes it out.
		{"failed", "exit 1", 2, store.Cancelled, 200},
		// It exits 0: it succeeded before the cancel took effect.
		{"succeeded", "exit 0", 0, store.Succeeded, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(dir, tc.name)
			// A child left in the command's group keeps the run going for
			// a moment after the command itself has exited (the group's
			// settle time): the cancel comes then.
			a := exec("site", "deploy", "", "sleep 1 & touch "+marker+"; "+tc.script)
			a.Retries, a.Backoff = tc.retries, time.Hour
			e := newEnv(t, "", a)
			id := e.ingest("site", "push", `{}`)
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the command did not run")
				}
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(30 * time.Millisecond) // the command exits
			job := e.event(id).Jobs[0]
			if job.State != store.Running {
				t.Skipf("job %s before the cancel; the race was missed", job.State)
			}
			code, body := e.call("POST", "/api/jobs/"+job.ID+"/cancel", "", nil)
			got := e.event(id).Jobs[0]
			if got.State == store.Cancelled && code == 200 {
				return // cancelled: also right if the cancel came before the exit (a slow machine)
			}
			if code != tc.code || !strings.Contains(body, `"error"`) != (tc.code == 200) {
				t.Errorf("cancel as the run ends = %d %s; want %d", code, body, tc.code)
			}
			if got.State != tc.want {
				t.Errorf("job after the cancel: %s (%s); want %s", got.State, got.Reason, tc.want)
			}
		})
	}
}

// A cancel that comes as its job starts — read queued, and started before
// the cancel was written — was answered 409 "(running)": the job ran on
// while the person was told it could not be cancelled. A job that is
// running is cancelled as one that runs.
func TestAPI_CancelRacingStart(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "sleep 5"))
	ctx := context.Background()
	for i := range 20 {
		if err := e.sched.SetPaused(ctx, "site", "deploy", true); err != nil {
			t.Fatal(err)
		}
		id := e.ingest("site", "push", `{}`)
		job := e.event(id).Jobs[0]
		// Resumed, the job starts at once: the cancel races its start.
		if err := e.sched.SetPaused(ctx, "site", "deploy", false); err != nil {
			t.Fatal(err)
		}
		var j JobJSON
		if code, body := e.call("POST", "/api/jobs/"+job.ID+"/cancel", "", &j); code != 200 || j.State != store.Cancelled {
			t.Fatalf("try %d: cancel as the job starts = %d %s; want 200, cancelled", i, code, body)
		}
	}
}
