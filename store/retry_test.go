package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStore_RetryByHand: a job retried by hand is pending again, due now,
// and says that a person retried it: not the reason of the state it left
// ("…; retry 1 of 3 at T", a time past or to come that no longer holds).
// Its attempts go on counting (the next run is the next attempt,
// WEBHOOKD_ATTEMPT); a failed job keeps its failures (the retry due is
// run now), a dead, cancelled or skipped one gets its retries back.
func TestStore_RetryByHand(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	s, _ := openTest(t, Options{Now: func() time.Time { return clock }})
	ctx := context.Background()
	fail := func(t *testing.T, id string, out Outcome) {
		t.Helper()
		if st, err := s.Start(ctx, id); err != nil || len(st) != 1 {
			t.Fatalf("Start = %v, %v", st, err)
		}
		out.Concurrency = 1
		out.Run = Run{Started: clock, Finished: clock, Result: RunFailed, Error: "exit status 1"}
		if _, err := s.Finish(ctx, id, out); err != nil {
			t.Fatalf("Finish: %v", err)
		}
	}
	for _, tc := range []struct {
		name         string
		prepare      func(t *testing.T, id string)
		wantFailures int
	}{
		{"failed", func(t *testing.T, id string) {
			at := clock.Add(time.Hour)
			fail(t, id, Outcome{State: Failed, NextAt: at, Reason: "exit status 1; retry 1 of 3 at " + at.Format(time.RFC3339)})
		}, 1},
		{"dead", func(t *testing.T, id string) {
			fail(t, id, Outcome{State: Dead, Reason: "exit status 1; no retries left (retries = 0)"})
		}, 0},
		{"cancelled", func(t *testing.T, id string) {
			if _, err := s.Cancel(ctx, id, "cancelled by a person", 1); err != nil {
				t.Fatal(err)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, id := queued(t, s, NewJob{Action: tc.name, Concurrency: 1})
			tc.prepare(t, id)
			before, err := s.GetJob(id)
			if err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(time.Minute)
			j, err := s.Retry(ctx, id)
			if err != nil {
				t.Fatalf("Retry of a %s job: %v", before.State, err)
			}
			got, err := s.GetJob(id)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range []*Job{j, got} {
				if j.State != Pending || j.Reason != ReasonRetried || strings.Contains(j.Reason, "retry 1 of") {
					t.Errorf("after Retry of a %s job (%q): %s, reason %q; want pending, reason %q", before.State, before.Reason, j.State, j.Reason, ReasonRetried)
				}
				if j.Attempts != before.Attempts || j.Failures != tc.wantFailures || !j.NextAt.Equal(clock) {
					t.Errorf("after Retry of a %s job: attempts %d, failures %d, next_at %v; want %d, %d, %v",
						before.State, j.Attempts, j.Failures, j.NextAt, before.Attempts, tc.wantFailures, clock)
				}
			}
			due, _, err := s.Due("h", tc.name, clock, 10)
			if err != nil || len(due) != 1 || due[0].JobID != id {
				t.Fatalf("Due after Retry = %v, %v; want %s", dueIDs(due), err, id)
			}
			// Its run is the next attempt, and the reason goes with the
			// state it was given for.
			st, err := s.Start(ctx, id)
			if err != nil || len(st) != 1 {
				t.Fatalf("Start after Retry = %v, %v", st, err)
			}
			if st[0].Attempts != before.Attempts+1 {
				t.Errorf("Start after Retry: attempt %d; want %d", st[0].Attempts, before.Attempts+1)
			}
		})
	}
}

// TestStore_StartDropsReason: a job that starts (a retry the scheduler
// runs when it is due, or one retried by hand) has no reason while it
// runs: the one it had was its failed state's ("…; retry 1 of 3 at T",
// the run now under way), and its run keeps the failure's error.
func TestStore_StartDropsReason(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	_, id := queued(t, s, job("a"))
	for _, retry := range []func() error{
		func() error { return nil }, // due at its time
		func() error { _, err := s.Retry(ctx, id); return err },
	} {
		if st, err := s.Start(ctx, id); err != nil || len(st) != 1 {
			t.Fatalf("Start = %v, %v", st, err)
		}
		at := now.Add(time.Minute)
		out := Outcome{State: Failed, NextAt: at, Reason: "exit status 1; retry 1 of 3 at " + at.Format(time.RFC3339), Concurrency: 1,
			Run: Run{Started: now, Finished: now, Result: RunFailed, Error: "exit status 1"}}
		if _, err := s.Finish(ctx, id, out); err != nil {
			t.Fatal(err)
		}
		if err := retry(); err != nil {
			t.Fatal(err)
		}
		now = at
		st, err := s.Start(ctx, id)
		if err != nil || len(st) != 1 {
			t.Fatalf("Start of the retry = %v, %v", st, err)
		}
		if j, _ := s.GetJob(id); j.State != Running || j.Reason != "" || st[0].Reason != "" {
			t.Errorf("running its retry: %s, reason %q (Start's %q); want running, no reason", j.State, j.Reason, st[0].Reason)
		}
		if _, err := s.Finish(ctx, id, Outcome{State: Pending, Concurrency: 1, Run: Run{Result: RunInterrupted}}); err != nil {
			t.Fatal(err)
		}
	}
}
