package actions

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestScheduler_RetriedBeyondTheWindowDoNotOverlap: a retry of a dead
// job puts it in its queue's window at once, beyond the window's size if
// need be (a person asked), but with concurrency = 1 it still never runs
// beside another run of its queue. Two dead jobs retried while a third
// runs: when that run ends, the finish starts one of them, not both, and
// they run one after the other, in arrival order.
func TestScheduler_RetriedBeyondTheWindowDoNotOverlap(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	gate := filepath.Join(dir, "gate")
	lock := filepath.Join(dir, "lock")
	// A run holds the lock directory for a second: a run that starts
	// beside it finds the directory there and says so.
	sh := script(t, dir, "s.sh", `if [ "$1" = slow ]; then while [ ! -e `+gate+` ]; do sleep 0.02; done; exit 0; fi
[ "$WEBHOOKD_ATTEMPT" -ge 2 ] || exit 1
mkdir `+lock+` 2>/dev/null || echo "overlap $1" >> `+logf+`
echo "start $1" >> `+logf+`
sleep 1
echo "end $1" >> `+logf+`
rmdir `+lock+` 2>/dev/null
exit 0
`)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	a := execAction("h", "deploy", sh, "{{ .payload.n }}")
	h := newHarness(t, a)
	ctx := context.Background()

	ev1 := h.ingest("h", `{"n":"one"}`)
	ev2 := h.ingest("h", `{"n":"two"}`)
	j1 := h.waitState(ev1, store.Dead)
	j2 := h.waitState(ev2, store.Dead)
	ev3 := h.ingest("h", `{"n":"slow"}`)
	h.waitState(ev3, store.Running)
	for _, j := range []*store.Job{j1, j2} {
		if _, err := h.s.Retry(ctx, j.ID); err != nil {
			t.Fatalf("Retry(%s) = %v", j.ID, err)
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitState(ev3, store.Succeeded)
	h.waitState(ev1, store.Succeeded)
	h.waitState(ev2, store.Succeeded)
	b, _ := os.ReadFile(logf)
	if got, want := strings.Join(strings.Split(strings.TrimSpace(string(b)), "\n"), ","), "start one,end one,start two,end two"; got != want {
		t.Errorf("runs of the retried jobs: %s; want %s (one at a time, in arrival order; concurrency = 1)", got, want)
	}
}

// TestScheduler_PausedActionLeavesRunsToOthers: a paused action's due jobs
// take none of the runs a dispatch pass may start (MaxRuns): one pass
// starts the due job of another action, even when the paused action comes
// first and has as many due jobs as there are free runs. (Were they
// counted, the pass would start nothing, and, with nothing running to end
// and wake it, the other action would wait for the next delivery.)
func TestScheduler_PausedActionLeavesRunsToOthers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	paused := &Action{Hook: "p", Name: "paused", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 10 * time.Second, Concurrency: 2}
	other := &Action{Hook: "o", Name: "other", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 10 * time.Second, Concurrency: 1}
	// Not started: the test makes the dispatch pass itself, so that it
	// looks at the paused action first (the order rotates from pass to pass).
	h := newStoppedHarness(t, store.Options{}, paused, other)
	h.s.opts.MaxRuns = 2
	if err := h.s.SetPaused(context.Background(), "p", "paused", true); err != nil {
		t.Fatal(err)
	}
	var pevs []string
	for range 2 {
		pevs = append(pevs, h.ingest("p", `{}`))
	}
	ev := h.ingest("o", `{}`)
	h.s.dispatch() // the first pass: the paused action first
	if j := h.jobs(ev)[0]; j.State == store.Pending {
		t.Fatalf("after a dispatch pass the other action's job is %s; want it started (the paused action's 2 due jobs took the 2 free runs)", j.State)
	}
	for _, pev := range pevs {
		if j := h.jobs(pev)[0]; j.State != store.Pending {
			t.Errorf("job of the paused action = %s; want pending", j.State)
		}
	}
	h.waitState(ev, store.Succeeded)
}
