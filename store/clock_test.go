package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestStore_ClockBack: jobs queued while the wall clock ran an hour ahead
// are due at that clock's time; once it is stepped back they would wait
// out the hour. ClockBack makes the pending ones due now and moves a
// failed one's retry back by the step, to now at the earliest.
func TestStore_ClockBack(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.Add(time.Hour).UnixNano()) // an hour ahead
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	s, _ := openTest(t, Options{Now: now})
	ctx := context.Background()
	ingest := func(action string) string {
		_, id := queued(t, s, NewJob{Action: action, Concurrency: 1})
		return id
	}
	pending := ingest("a")
	failed := ingest("b")
	if _, err := s.Start(ctx, failed); err != nil {
		t.Fatal(err)
	}
	// Its retry is due 5 minutes after it failed, by the clock that ran
	// ahead, and its reason says when.
	retry := now().Add(5 * time.Minute)
	reason := RetryReason("exit status 1", 1, 3, retry)
	if _, err := s.Finish(ctx, failed, Outcome{State: Failed, NextAt: retry, Reason: reason, Concurrency: 1}); err != nil {
		t.Fatal(err)
	}

	// A retry due in 3 hours by the clock that ran ahead.
	far := ingest("c")
	if _, err := s.Start(ctx, far); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, far, Outcome{State: Failed, NextAt: now().Add(3 * time.Hour), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}

	clock.Store(base.UnixNano()) // stepped back by the hour
	if due, next, _ := s.Due("h", "a", now(), 10); len(due) != 0 || !next.Equal(base.Add(time.Hour)) {
		t.Fatalf("before ClockBack: action a due = %v, next %v; want nothing due for an hour (the stall)", due, next)
	}
	moved, err := s.ClockBack(ctx, time.Hour)
	if err != nil || moved != 3 {
		t.Fatalf("ClockBack = %d, %v; want 3 jobs moved", moved, err)
	}
	if due, _, _ := s.Due("h", "a", now(), 10); len(due) != 1 || due[0].JobID != pending {
		t.Errorf("action a due = %v; want the pending job %s now", due, pending)
	}
	if _, next, _ := s.Due("h", "b", now(), 10); !next.Equal(base.Add(5 * time.Minute)) {
		t.Errorf("action b's retry due at %v; want %v (5 minutes after it failed, by the clock as it is now)", next, base.Add(5*time.Minute))
	}
	if _, next, _ := s.Due("h", "c", now(), 10); !next.Equal(base.Add(3 * time.Hour)) {
		t.Errorf("action c's retry due at %v; want %v (moved back by the step, still in the future)", next, base.Add(3*time.Hour))
	}
	if j, err := s.GetJob(failed); err != nil || !j.NextAt.Equal(base.Add(5*time.Minute)) {
		t.Errorf("failed job's NextAt = %v, %v; want it moved with its due entry", j.NextAt, err)
	} else if want := "exit status 1; retry 1 of 3 at " + base.Add(5*time.Minute).Format(time.RFC3339); j.Reason != want {
		t.Errorf("failed job's reason = %q; want %q, the time it is due now", j.Reason, want)
	}
	if started, err := s.Start(ctx, pending); err != nil || len(started) != 1 {
		t.Errorf("Start(pending) after ClockBack = %d, %v; want it started", len(started), err)
	}
}

// TestStore_ClockBackAtStart: ClockBack needs no step size (a start
// cannot know it): a pending job is made due now, a failed job whose
// failure was recorded by the clock that ran a month ahead waits its
// backoff from now, and one recorded after the clock was put right keeps
// its due time; a second look moves nothing.
func TestStore_ClockBackAtStart(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.Add(30 * 24 * time.Hour).UnixNano()) // a month ahead
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	s, _ := openTest(t, Options{Now: now})
	ctx := context.Background()
	var ids []string
	for _, action := range []string{"a", "b", "c"} {
		_, id := queued(t, s, NewJob{Action: action, Concurrency: 1})
		ids = append(ids, id)
	}
	fail := func(id string, backoff time.Duration) {
		t.Helper()
		if started, err := s.Start(ctx, id); err != nil || len(started) != 1 {
			t.Fatalf("Start(%s) = %d, %v", id, len(started), err)
		}
		if _, err := s.Finish(ctx, id, Outcome{State: Failed, NextAt: now().Add(backoff), Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
	}
	fail(ids[1], time.Minute)    // by the clock a month ahead
	clock.Store(base.UnixNano()) // put right while no daemon ran
	// The start: a's and c's pending jobs are due now, b's retry in a
	// minute.
	if moved, err := s.ClockBack(ctx, 0); err != nil || moved != 3 {
		t.Fatalf("ClockBack = %d, %v; want 3 jobs moved", moved, err)
	}
	// c's job runs and fails by the clock as it is now: a look after that
	// leaves its retry, and the others, where they are.
	fail(ids[2], time.Hour)
	if moved, err := s.ClockBack(ctx, 0); err != nil || moved != 0 {
		t.Fatalf("ClockBack again = %d, %v; want nothing more to move", moved, err)
	}
	for i, want := range []time.Time{base, base.Add(time.Minute), base.Add(time.Hour)} {
		j, err := s.GetJob(ids[i])
		if err != nil || !j.NextAt.Equal(want) {
			t.Errorf("job of action %c due at %v, %v; want %v", 'a'+i, j.NextAt, err, want)
		}
	}
}

// TestStore_OldestQueuedAfterRetry: the queued job that has waited
// longest is measured from when it last joined its queue: a job cancelled
// three days ago and retried now has waited no time, and a job queued an
// hour after it, and waiting since, is the oldest.
func TestStore_OldestQueuedAfterRetry(t *testing.T) {
	base := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	s, _ := openTest(t, Options{Now: now})
	ctx := context.Background()
	ingest := func(action string) string {
		_, id := queued(t, s, NewJob{Action: action, Concurrency: 1})
		return id
	}
	old := ingest("a")
	if _, err := s.Cancel(ctx, old, "by a person", 1); err != nil {
		t.Fatal(err)
	}
	clock.Store(base.Add(time.Hour).UnixNano())
	waiting := ingest("b")
	clock.Store(base.Add(72 * time.Hour).UnixNano())
	if _, err := s.Retry(ctx, old); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OldestQueue != waiting || !st.QueuedSince.Equal(base.Add(time.Hour)) {
		t.Errorf("oldest queued = %s since %v; want %s, waiting since %v (the retried %s joined its queue now)", st.OldestQueue, st.QueuedSince, waiting, base.Add(time.Hour), old)
	}
	if _, err := s.Cancel(ctx, waiting, "by a person", 1); err != nil {
		t.Fatal(err)
	}
	if st, _ = s.Stats(); st.OldestQueue != old || !st.QueuedSince.Equal(base.Add(72*time.Hour)) {
		t.Errorf("oldest queued = %s since %v; want the retried %s, since its retry at %v", st.OldestQueue, st.QueuedSince, old, base.Add(72*time.Hour))
	}
}

// TestStore_ClockBackWaitingJob: two pushes arrive while the wall
// clock runs an hour ahead; with concurrency 1 the second waits behind the
// first. The clock is put right and the running daemon's ClockBack moves
// what is in the due index. When the first job ends, the second joins the
// window and must be due now (README: "jobs queued meanwhile still run
// when they should"), not an hour later at the ahead clock's time.
func TestStore_ClockBackWaitingJob(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.Add(time.Hour).UnixNano()) // an hour ahead
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	s, _ := openTest(t, Options{Now: now})
	ctx := context.Background()
	_, first := queued(t, s, NewJob{Action: "deploy", Concurrency: 1})
	_, second := queued(t, s, NewJob{Action: "deploy", Concurrency: 1}) // waits behind the window
	if st, err := s.Start(ctx, first); err != nil || len(st) != 1 {
		t.Fatalf("Start(first) = %v, %v", st, err)
	}

	clock.Store(base.UnixNano()) // stepped back by the hour
	if _, err := s.ClockBack(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The first run ends a minute later; its finish starts the queue's next.
	clock.Store(base.Add(time.Minute).UnixNano())
	_, started, err := s.FinishAndStart(ctx, first, Outcome{State: Succeeded, Concurrency: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) == 1 && started[0].ID == second {
		return
	}
	due, next, _ := s.Due("h", "deploy", now(), 10)
	j, _ := s.GetJob(second)
	t.Fatalf("after the first job ended, the waiting job %s was not started (started %d), due now: %v; next due at %v (job NextAt %v, state %s); want it due now at %v, not at the ahead clock's time",
		second, len(started), due, next.UTC(), j.NextAt.UTC(), j.State, now())
}
