package store

import (
	"context"
	"fmt"
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
