package store_test

// Store faults, injected at the narrowest seam (Options.FailWrites: the
// commit fails before anything is written, as it does when the disk is
// full or gone). A failing write is never acknowledged; a failing state
// update in the scheduler loses no job and runs none twice.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// faults is a switchable FailWrites: off, on, or failing each commit with
// a probability.
type faults struct {
	mu    sync.Mutex
	on    bool
	p     float64
	rnd   *rand.Rand
	count atomic.Int64
}

func (f *faults) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.on || (f.p > 0 && f.rnd.Float64() < f.p) {
		f.count.Add(1)
		return fmt.Errorf("write: %w", syscall.ENOSPC)
	}
	return nil
}

func (f *faults) set(on bool, p float64) {
	f.mu.Lock()
	f.on, f.p = on, p
	f.mu.Unlock()
}

const faultSecret = "fault-secret"

func faultSign(body []byte) string {
	m := hmac.New(sha256.New, []byte(faultSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestFault_FailingWriteNeverAcknowledged: deliveries race against a store
// whose commits fail at random. Every 202 is on disk; every 503 carries
// Retry-After and wrote nothing (the same delivery, sent again once the
// disk is back, is stored as new, not answered as a duplicate).
func TestFault_FailingWriteNeverAcknowledged(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	f := &faults{rnd: rand.New(rand.NewPCG(seed, 2))}
	st := openStore(t, store.Options{FailWrites: f.fail})
	gh, err := listener.NewProvider(listener.ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(faultSecret)}})
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(listener.Options{Store: st}, &listener.Config{Hooks: []*listener.Hook{{
		ID: "site", Path: "/hooks/site", Provider: gh, MaxBody: 1 << 20,
		Plan: func(*tmpl.Data) []store.NewJob { return []store.NewJob{{Action: "deploy", Concurrency: 1}} },
	}}})
	srv := httptest.NewServer(l)
	defer srv.Close()

	post := func(delivery string) (int, string, http.Header) {
		body := []byte(`{"ref":"refs/heads/main","n":"` + delivery + `"}`)
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/site", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Hub-Signature-256", faultSign(body))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, "", nil
		}
		defer res.Body.Close()
		var v map[string]any
		json.NewDecoder(res.Body).Decode(&v)
		id, _ := v["id"].(string)
		return res.StatusCode, id, res.Header
	}

	f.set(false, 0.3)
	var mu sync.Mutex
	acked := map[string]string{} // delivery → event id
	var refused []string
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				delivery := fmt.Sprintf("d-%d-%d", w, i)
				status, id, h := post(delivery)
				mu.Lock()
				switch status {
				case 202:
					acked[delivery] = id
				case 503:
					if h.Get("Retry-After") == "" {
						t.Errorf("503 for %s without Retry-After", delivery)
					}
					refused = append(refused, delivery)
				default:
					t.Errorf("delivery %s = %d; want 202 or 503", delivery, status)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d refused, %d commits failed: the faults did not bite", len(acked), len(refused), f.count.Load())
	}
	t.Logf("%d acknowledged, %d refused with 503, %d commits failed", len(acked), len(refused), f.count.Load())

	f.set(false, 0)
	stats, _ := st.Stats()
	if stats.Events != len(acked) {
		t.Errorf("%d events stored; want the %d acknowledged", stats.Events, len(acked))
	}
	for delivery, id := range acked {
		if _, err := st.GetEvent(id, true); err != nil {
			t.Errorf("acknowledged %s (%s): %v", delivery, id, err)
		}
		if status, again, _ := post(delivery); status != 200 || again != id {
			t.Errorf("acknowledged %s sent again = %d %s; want 200 duplicate of %s", delivery, status, again, id)
		}
	}
	for _, delivery := range refused {
		if status, _, _ := post(delivery); status != 202 {
			t.Errorf("refused %s sent again = %d; want 202 (the 503 wrote nothing)", delivery, status)
		}
	}
}

// schedHarness is a real scheduler over a store with switchable faults.
type schedHarness struct {
	t   *testing.T
	st  *store.Store
	s   *actions.Scheduler
	f   *faults
	cfg *actions.Config
	dir string
}

func newSchedHarness(t *testing.T, script string, concurrency int) *schedHarness {
	t.Helper()
	dir := t.TempDir()
	sh := filepath.Join(dir, "act.sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &faults{rnd: rand.New(rand.NewPCG(1, 2))}
	st, err := store.Open(filepath.Join(dir, "s.db"), store.Options{FailWrites: f.fail})
	if err != nil {
		t.Fatal(err)
	}
	cfg := actions.NewConfig([]*actions.Action{{
		Hook: "h", Name: "deploy", Run: []*tmpl.Template{tmpl.MustParse("run", sh)}, Dir: dir,
		Timeout: time.Minute, Concurrency: concurrency, Retries: 3, Backoff: 50 * time.Millisecond,
	}})
	s := actions.New(actions.Options{Store: st, TempDir: dir, KillGrace: time.Second, Rand: rand.New(rand.NewPCG(3, 4))}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.set(false, 0)
		s.Close()
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	return &schedHarness{t: t, st: st, s: s, f: f, cfg: cfg, dir: dir}
}

// ingest stores an event, retrying while commits fail (as a sender
// retries a 503).
func (h *schedHarness) ingest(body string) string {
	h.t.Helper()
	for i := 0; ; i++ {
		d := &tmpl.Data{Hook: "h", Event: "push", ContentType: "application/json", Body: []byte(body)}
		res, err := h.st.Ingest(context.Background(), &store.NewEvent{Hook: "h", Type: "push", ContentType: "application/json",
			Body: []byte(body), Jobs: h.cfg.Plan("h", d)})
		if err == nil {
			return res.ID
		}
		if !errors.Is(err, syscall.ENOSPC) || i > 1000 {
			h.t.Fatalf("ingest: %v", err)
		}
	}
}

func (h *schedHarness) job(evID string) *store.Job {
	h.t.Helper()
	ev, err := h.st.GetEvent(evID, false)
	if err != nil {
		h.t.Fatal(err)
	}
	js, err := h.st.Jobs(ev)
	if err != nil || len(js) != 1 {
		h.t.Fatalf("jobs of %s: %v %v", evID, js, err)
	}
	return js[0]
}

// lines counts the lines of a file in the harness's directory.
func (h *schedHarness) lines(name string) []string {
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		h.t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFault_FinishFails: the run ends while every commit fails. The job
// stays running on disk and on the scheduler's books, is not started again, and
// is recorded as succeeded once the disk is back: one run, one attempt.
// The job queued behind it was started by the finish whose commit failed
// (a queue's next run starts while its finish is written): it runs, but is
// recorded only once its start is on disk, so it too runs once.
func TestFault_FinishFails(t *testing.T) {
	h := newSchedHarness(t, `echo "$WEBHOOKD_EVENT_ID" >> ran.log
while [ ! -f release ]; do sleep 0.01; done
`, 1)
	first := h.ingest(`{"n":1}`)
	second := h.ingest(`{"n":2}`)
	waitUntil(t, "the first run to start", func() bool { return len(h.lines("ran.log")) == 1 })

	h.f.set(true, 0)
	if err := os.WriteFile(filepath.Join(h.dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The run ends; its finish fails, again and again.
	waitUntil(t, "three failed attempts to record the run", func() bool { return h.f.count.Load() >= 3 })
	if j := h.job(first); j.State != store.Running || j.Attempts != 1 {
		t.Errorf("while the disk fails, the first job is %s (attempt %d); want running, attempt 1", j.State, j.Attempts)
	}
	if j := h.job(second); j.State != store.Pending || j.Attempts != 0 {
		t.Errorf("while the disk fails, the second job is %s (attempt %d) on disk; want pending, attempt 0", j.State, j.Attempts)
	}
	// Its run is over: the scheduler no longer lists it as running
	// (it keeps it on its books: ran.log below shows it is not run again).
	for _, r := range h.s.Running() {
		if r.EventID == first {
			t.Errorf("scheduler lists the first job as running; its run is over, only its record is being written")
		}
	}
	if got := h.lines("ran.log"); len(got) > 2 || got[0] != first || len(got) == 2 && got[1] != second {
		t.Errorf("ran %v while the disk failed; want the first event, and at most the second once", got)
	}

	h.f.set(false, 0)
	waitUntil(t, "both jobs to succeed", func() bool {
		return h.job(first).State == store.Succeeded && h.job(second).State == store.Succeeded
	})
	if got := h.lines("ran.log"); len(got) != 2 || got[0] != first || got[1] != second {
		t.Errorf("runs = %v; want %s then %s, once each", got, first, second)
	}
	for _, ev := range []string{first, second} {
		j := h.job(ev)
		runs, err := h.st.Runs(j.ID)
		if err != nil || len(runs) != 1 || j.Attempts != 1 || runs[0].Result != store.RunSucceeded {
			t.Errorf("job of %s: attempts %d, runs %v, %v; want one succeeded run", ev, j.Attempts, runs, err)
		}
	}
}

// TestFault_RandomCommitFailures: with a fifth of all commits failing
// (ingest, start, finish, refill), every event's action runs exactly once
// while the process stays up, and every job ends succeeded.
func TestFault_RandomCommitFailures(t *testing.T) {
	h := newSchedHarness(t, `echo "$WEBHOOKD_EVENT_ID" >> ran.log
`, 2)
	h.f.set(false, 0.2)
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, h.ingest(fmt.Sprintf(`{"n":%d}`, i)))
	}
	waitUntil(t, "every job to finish", func() bool {
		for _, id := range ids {
			if h.job(id).State != store.Succeeded {
				return false
			}
		}
		return true
	})
	t.Logf("%d commits failed", h.f.count.Load())
	if h.f.count.Load() == 0 {
		t.Fatal("no commit failed: the faults did not bite")
	}
	ran := map[string]int{}
	for _, id := range h.lines("ran.log") {
		ran[id]++
	}
	for _, id := range ids {
		if ran[id] != 1 {
			t.Errorf("event %s ran %d times; want exactly once", id, ran[id])
		}
	}
}
