package actions

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// syncBuffer is a log sink a test reads while the scheduler writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestScheduler_DamagedJob: a job whose record cannot be decoded (bit rot,
// a torn copy) does not stop the scheduler: it is set aside, once, out of
// its queue, and the jobs behind it run, as do the other action's. One is
// due at the start (in its queue's window, concurrency 1), another waits
// behind the window and is met when the window moves up to it.
func TestScheduler_DamagedJob(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	a, b := execAction("h", "a", "true"), execAction("h", "b", "true")
	cfg := NewConfig([]*Action{a, b})
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	var jobA []string // each event's job of action a
	for i := range 4 {
		d := &tmpl.Data{Hook: "h", Event: "push", ContentType: "application/json", Body: []byte(`{}`), Headers: map[string]string{}, Query: map[string]string{}}
		res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "h", Type: "push", Delivery: fmt.Sprint("d", i),
			ContentType: "application/json", Body: []byte(`{}`), Jobs: cfg.Plan("h", d)})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := st.GetEvent(res.ID, false)
		if err != nil || len(ev.JobIDs) != 2 {
			t.Fatalf("event %d: %v, %v", i, ev, err)
		}
		evs, jobA = append(evs, res.ID), append(jobA, ev.JobIDs[0])
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Action a's first job (due: in the window) and third (waiting
	// behind it) are damaged.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, id := range []string{jobA[0], jobA[2]} {
			if err := tx.Bucket([]byte("jobs")).Put([]byte(id), []byte("\x00{bit rot")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	logs := new(syncBuffer)
	log := slog.New(slog.NewTextHandler(logs, nil))
	st, err = store.Open(path, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Store: st, Logger: log, KillGrace: time.Second, TempDir: dir, Rand: rand.New(rand.NewPCG(1, 2))}, cfg)
	t.Cleanup(func() {
		s.Close()
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
		t.Logf("log:\n%s", logs)
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Every readable job succeeds: action a's second and fourth, and all
	// of b's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pending []string
		for _, id := range evs {
			ev, err := st.GetEvent(id, false)
			if err != nil {
				t.Fatal(err)
			}
			js, err := st.Jobs(ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range js {
				if j.State != store.Succeeded && j.State != store.Damaged {
					pending = append(pending, j.Action+":"+string(j.State))
				}
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not run past the damaged ones: %v", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Jobs[store.Succeeded] != 6 || stats.Jobs[store.Pending] != 0 || stats.Jobs[store.Running] != 0 {
		t.Errorf("jobs by state: %v; want 6 succeeded, none queued (the damaged set aside)", stats.Jobs)
	}
	// Each damaged job is set aside once, not retried by every dispatch.
	time.Sleep(100 * time.Millisecond)
	out := logs.String()
	for _, id := range []string{jobA[0], jobA[2]} {
		if n := strings.Count(out, "set aside"); n != 2 || !strings.Contains(out, "job_id="+id) {
			t.Errorf("damaged job %s: %d set-aside warnings in all; want one for each of the two", id, n)
		}
	}
	if strings.Contains(out, "start jobs") {
		t.Errorf("the dispatch failed to start jobs:\n%s", out)
	}
}
