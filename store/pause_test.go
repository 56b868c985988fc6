package store

import (
	"context"
	"testing"
)

// TestStore_PausedNotStarted: once SetPaused has returned, no commit starts
// a job of that action: not Start (a dispatch pass that listed the job just
// before the pause), and not a finish of its queue (whose caller read the
// action as running just before). The pause is read in the transaction
// that would start the job, so the two are ordered by the commit loop.
// Resuming lets them start again.
func TestStore_PausedNotStarted(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var ids []string
	for range 3 {
		_, id := queued(t, s, NewJob{Action: "a", Concurrency: 2})
		ids = append(ids, id)
	}
	if started, err := s.Start(ctx, ids[0]); err != nil || len(started) != 1 {
		t.Fatalf("Start(%s) = %d jobs, %v; want it started", ids[0], len(started), err)
	}
	if err := s.SetPaused(ctx, "h", "a", true); err != nil {
		t.Fatal(err)
	}
	if started, err := s.Start(ctx, ids[1]); err != nil || len(started) != 0 {
		t.Errorf("Start of a paused action's job = %d jobs, %v; want none started", len(started), err)
	}
	_, next, err := s.FinishAndStart(ctx, ids[0], Outcome{State: Succeeded, Concurrency: 2}, 2)
	if err != nil || len(next) != 0 {
		t.Errorf("FinishAndStart in a paused action started %d jobs, %v; want none", len(next), err)
	}
	for _, id := range ids[1:] {
		j, err := s.GetJob(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != Pending || j.Attempts != 0 {
			t.Errorf("job %s = %s, attempt %d; want pending, never run", id, j.State, j.Attempts)
		}
	}
	if err := s.SetPaused(ctx, "h", "a", false); err != nil {
		t.Fatal(err)
	}
	if started, err := s.Start(ctx, ids[1:]...); err != nil || len(started) != 2 {
		t.Errorf("Start after resume = %d jobs, %v; want both", len(started), err)
	}
}
