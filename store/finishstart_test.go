package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestStore_FinishAndStart: finishing a job starts the next due jobs of
// its own queue in the same commit, in arrival order, no more than asked
// and no more than the window holds; other queues and jobs whose retry is
// not due are left to the scheduler.
func TestStore_FinishAndStart(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	queue := func(key string, conc int) string {
		res, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Key: key, Concurrency: conc}))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.GetEvent(res.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		return ev.JobIDs[0]
	}
	var main []string
	for i := 0; i < 4; i++ {
		main = append(main, queue("main", 1))
	}
	dev := queue("dev", 1)
	ids := func(js []*Job) string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return fmt.Sprint(out)
	}

	if _, err := s.Start(ctx, main[0]); err != nil {
		t.Fatal(err)
	}
	// max 0 is Finish: nothing starts.
	done, next, err := s.FinishAndStart(ctx, main[0], Outcome{State: Succeeded, Concurrency: 1}, 0)
	if err != nil || done.State != Succeeded || len(next) != 0 {
		t.Fatalf("FinishAndStart(max 0) = %v, %s, %v; want succeeded, none started", done, ids(next), err)
	}
	// The refill made main[1] due; the scheduler would start it.
	if _, err := s.Start(ctx, main[1]); err != nil {
		t.Fatal(err)
	}
	// Asking for more than the window holds starts only what is in it.
	_, next, err = s.FinishAndStart(ctx, main[1], Outcome{State: Succeeded, Concurrency: 1}, 5)
	if err != nil || ids(next) != fmt.Sprint(main[2:3]) {
		t.Fatalf("FinishAndStart(max 5) started %s, %v; want %v", ids(next), err, main[2:3])
	}
	if next[0].State != Running || next[0].Attempts != 1 {
		t.Errorf("started job = %+v; want running, attempt 1", next[0])
	}
	due, _, _ := s.Due("h", "a", time.Now().Add(time.Second), 10)
	if got := fmt.Sprint(dueIDs(due)); got != fmt.Sprint([]string{dev}) {
		t.Errorf("Due = %s; want only the other queue's job %s", got, dev)
	}
	// A job whose retry is not due yet is not started.
	_, next, err = s.FinishAndStart(ctx, main[2], Outcome{State: Failed, NextAt: time.Now().Add(time.Hour), Concurrency: 1}, 1)
	if err != nil || len(next) != 0 {
		t.Fatalf("FinishAndStart(failed, retry in 1h) started %s, %v; want none", ids(next), err)
	}
	// A job that is not running is a state error, and starts nothing.
	if _, next, err := s.FinishAndStart(ctx, main[3], Outcome{State: Succeeded, Concurrency: 1}, 1); err == nil || len(next) != 0 {
		t.Errorf("FinishAndStart(pending job) = %s, %v; want ErrState", ids(next), err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs[Running] != 0 || st.Jobs[Succeeded] != 2 || st.Jobs[Failed] != 1 || st.Jobs[Pending] != 2 {
		t.Errorf("jobs by state = %v; want 2 succeeded, 1 failed, 2 pending", st.Jobs)
	}
}

// TestStore_FinishAndStartEarly: FinishAndStartEarly returns the jobs it
// started before its commit is written, and then the commit's result.
// When that commit fails, nothing of it is on disk, and FinishAndStartIDs
// records the finish again with the same jobs running.
func TestStore_FinishAndStartEarly(t *testing.T) {
	// The hook runs after the ops applied and before the commit writes:
	// it holds a commit until the test lets it go, or fails it.
	hold := make(chan error)
	var holding atomic.Bool
	s, _ := openTest(t, Options{FailWrites: func() error {
		if holding.Load() {
			return <-hold
		}
		return nil
	}})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		res, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Concurrency: 1}))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.GetEvent(res.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.JobIDs[0])
	}
	if _, err := s.Start(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	state := func(id string) (State, int) {
		t.Helper()
		j, err := s.GetJob(id)
		if err != nil {
			t.Fatal(err)
		}
		return j.State, j.Attempts
	}
	done := Outcome{State: Succeeded, Concurrency: 1}

	// The commit fails: the started job was handed out, but none of it landed.
	holding.Store(true)
	_, next, durable, err := s.FinishAndStartEarly(ctx, ids[0], done, 1)
	if err != nil || len(next) != 1 || next[0].ID != ids[1] || next[0].State != Running || next[0].Attempts != 1 {
		t.Fatalf("FinishAndStartEarly = %v, %v; want %s started (running, attempt 1)", next, err, ids[1])
	}
	// It returned while its commit is held, before anything was written.
	if st, _ := state(ids[0]); st != Running {
		t.Errorf("before the commit, the finished job is %s on disk; want still running", st)
	}
	hold <- errors.New("injected: disk gone")
	if err := <-durable; !IsWriteError(err) {
		t.Fatalf("durable = %v; want the commit's write error", err)
	}
	holding.Store(false)
	if st, _ := state(ids[0]); st != Running {
		t.Errorf("after the failed commit, the finished job is %s; want running", st)
	}
	if st, n := state(ids[1]); st != Pending || n != 0 {
		t.Errorf("after the failed commit, the started job is %s (attempt %d); want pending, 0", st, n)
	}

	// Recorded again, with the same job running.
	j, started, err := s.FinishAndStartIDs(ctx, ids[0], done, []string{ids[1]})
	if err != nil || j.State != Succeeded || len(started) != 1 || started[0].ID != ids[1] {
		t.Fatalf("FinishAndStartIDs = %v, %v, %v; want succeeded, %s started", j, started, err, ids[1])
	}
	if st, n := state(ids[1]); st != Running || n != 1 {
		t.Errorf("the started job is %s (attempt %d); want running, attempt 1", st, n)
	}

	// The commit succeeds: durable says so, and it is on disk.
	_, next, durable, err = s.FinishAndStartEarly(ctx, ids[1], done, 1)
	if err != nil || len(next) != 1 || next[0].ID != ids[2] {
		t.Fatalf("FinishAndStartEarly = %v, %v; want %s started", next, err, ids[2])
	}
	if err := <-durable; err != nil {
		t.Fatalf("durable = %v", err)
	}
	if st, n := state(ids[2]); st != Running || n != 1 {
		t.Errorf("after the commit, the started job is %s (attempt %d); want running, attempt 1", st, n)
	}
	if err := s.Check(); err != nil {
		t.Errorf("consistency check: %v", err)
	}
}
