package store

import (
	"context"
	"testing"
	"time"
)

// Tests for guarantees no other test watched: each was found by changing
// the code and seeing no test fail.

// TestStore_CommitsAreSynced: a 2xx means the event is on disk, so every
// commit is fsynced. bbolt skips the fsync with NoSync, which only kill
// -9 cannot tell from a synced commit (the page cache survives it), and a
// power cut can: the option must stay off.
func TestStore_CommitsAreSynced(t *testing.T) {
	s, _ := openTest(t, Options{})
	if s.db.NoSync {
		t.Fatal("the database is opened with NoSync: commits are not fsynced")
	}
	if _, err := s.Ingest(context.Background(), newEvent("h", "d1", job("a"))); err != nil {
		t.Fatal(err)
	}
	if s.db.NoSync {
		t.Fatal("NoSync is set after a commit")
	}
}

// TestStore_FinishAndStartAtMostMax: a finish starts at most max of its
// queue's due jobs, also when more are due in the window (the scheduler
// gives as max what its limits leave free).
func TestStore_FinishAndStartAtMostMax(t *testing.T) {
	for _, max := range []int{1, 2} {
		s, _ := openTest(t, Options{})
		ctx := context.Background()
		nj := NewJob{Action: "a", Concurrency: 3}
		var ids []string
		for range 4 {
			_, id := queued(t, s, nj)
			ids = append(ids, id)
		}
		if started, err := s.Start(ctx, ids[0]); err != nil || len(started) != 1 {
			t.Fatalf("Start = %v, %v", started, err)
		}
		// Window of 3: ids[0] running, ids[1] and ids[2] due; its finish
		// brings ids[3] in too.
		_, started, err := s.FinishAndStart(ctx, ids[0], Outcome{State: Succeeded, Concurrency: 3}, max)
		if err != nil {
			t.Fatal(err)
		}
		if len(started) != max {
			t.Fatalf("max %d: FinishAndStart started %d jobs; want %d", max, len(started), max)
		}
		for i, j := range started {
			if j.ID != ids[1+i] || j.State != Running {
				t.Errorf("max %d: started[%d] = %s (%s); want %s running (arrival order)", max, i, j.ID, j.State, ids[1+i])
			}
		}
		due, _, err := s.Due("h", "a", time.Now().Add(time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := 3 - max; len(due) != want {
			t.Errorf("max %d: %d jobs still due (%v); want %d", max, len(due), dueIDs(due), want)
		}
	}
}

// TestStore_DeadCountsItsFailure: a job's failures count every run that
// failed, the last one, which left it dead, too.
func TestStore_DeadCountsItsFailure(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	_, id := queued(t, s, job("a"))
	if _, err := s.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	j, err := s.Finish(ctx, id, Outcome{State: Failed, NextAt: time.Now(), Concurrency: 1, Run: Run{Result: RunFailed}})
	if err != nil || j.Failures != 1 {
		t.Fatalf("Finish(failed) = %+v, %v; want 1 failure", j, err)
	}
	if started, err := s.Start(ctx, id); err != nil || len(started) != 1 {
		t.Fatalf("Start of the retry = %v, %v", started, err)
	}
	j, err = s.Finish(ctx, id, Outcome{State: Dead, Reason: "no retries left", Concurrency: 1, Run: Run{Result: RunFailed}})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != Dead || j.Failures != 2 || j.Attempts != 2 {
		t.Errorf("dead job: state %s, failures %d, attempts %d; want dead, 2, 2", j.State, j.Failures, j.Attempts)
	}
	if got, err := s.GetJob(id); err != nil || got.Failures != 2 {
		t.Errorf("GetJob = %+v, %v; want 2 failures stored", got, err)
	}
}
