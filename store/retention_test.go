package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestPruneLoop: on a fake clock, finished events leave once they are
// older than the retention, and unfinished ones stay.
func TestPruneLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done, _ := s.Ingest(ctx, &NewEvent{Hook: "h", Received: time.Now(), Jobs: []NewJob{{Action: "a", Skip: "no"}}})
		queued, _ := s.Ingest(ctx, &NewEvent{Hook: "h", Received: time.Now(), Jobs: []NewJob{{Action: "a", Concurrency: 1}}})
		go s.PruneLoop(ctx, 10*time.Minute, func() Policy { return Policy{MaxAge: 24 * time.Hour} })

		time.Sleep(23 * time.Hour)
		synctest.Wait()
		if _, err := s.GetEvent(done.ID, false); err != nil {
			t.Fatalf("after 23h the finished event is gone: %v", err)
		}
		time.Sleep(time.Hour + 10*time.Minute)
		synctest.Wait()
		if _, err := s.GetEvent(done.ID, false); err == nil {
			t.Errorf("after 24h10m the finished event is still there")
		}
		if _, err := s.GetEvent(queued.ID, false); err != nil {
			t.Errorf("the event with a queued job was pruned: %v", err)
		}
		cancel()
		synctest.Wait()
	})
}

// TestPruneLoop_PolicyEachRound: README, Reloading: retention (and
// max_size) apply on reload "at the next pruning round": the loop asks for
// the policy at every round, so a retention shortened while it runs
// deletes what is now too old at the next round.
func TestPruneLoop_PolicyEachRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done, _ := s.Ingest(ctx, &NewEvent{Hook: "h", Received: time.Now(), Jobs: []NewJob{{Action: "a", Skip: "no"}}})
		var maxAge atomic.Int64
		maxAge.Store(int64(72 * time.Hour))
		go s.PruneLoop(ctx, 10*time.Minute, func() Policy { return Policy{MaxAge: time.Duration(maxAge.Load())} })

		time.Sleep(48 * time.Hour)
		synctest.Wait()
		if _, err := s.GetEvent(done.ID, false); err != nil {
			t.Fatalf("48h old under a retention of 72h: the event is gone: %v", err)
		}
		maxAge.Store(int64(24 * time.Hour)) // the reload
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if _, err := s.GetEvent(done.ID, false); err == nil {
			t.Errorf("a round after the retention became 24h, the 48h-old finished event is still there")
		}
		cancel()
		synctest.Wait()
	})
}

// TestPrune_DropsEmptyDueIndexes: an action's due index is a bucket of
// its own, made by its first due job. A config that renames an action now
// and then (a name with a version or a date in it) must not leave one
// bucket per name behind once retention has pruned every job of it.
func TestPrune_DropsEmptyDueIndexes(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	const renames = 300
	for i := 0; i < renames; i++ {
		action := fmt.Sprintf("deploy-v%d", i) // the action as this config names it
		if _, err := s.Ingest(ctx, newEvent("site", fmt.Sprintf("d%d", i), job(action))); err != nil {
			t.Fatal(err)
		}
		due, _, err := s.Due("site", action, time.Now().Add(time.Second), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("Due(%s) = %v, %v; want 1", action, due, err)
		}
		started, err := s.Start(ctx, due[0].JobID)
		if err != nil || len(started) != 1 {
			t.Fatalf("Start = %v, %v", started, err)
		}
		if _, err := s.Finish(ctx, started[0].ID, Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded}}); err != nil {
			t.Fatal(err)
		}
	}
	// Retention: every event is finished and old.
	n, err := s.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || n != renames {
		t.Fatalf("Prune = %d, %v; want %d", n, err, renames)
	}
	var events, jobs, buckets int
	s.db.View(func(tx *bolt.Tx) error {
		events = tx.Bucket(bEvents).Stats().KeyN
		jobs = tx.Bucket(bJobs).Stats().KeyN
		tx.Bucket(bDue).ForEach(func(k, v []byte) error {
			if v == nil {
				buckets++
			}
			return nil
		})
		return nil
	})
	if events != 0 || jobs != 0 {
		t.Fatalf("after pruning everything: %d events, %d jobs", events, jobs)
	}
	// Nothing is queued for any action: the due index should hold nothing,
	// whatever names the actions had.
	if buckets != 0 {
		t.Errorf("due index: %d buckets left after %d renames with no job left for any of them; want 0 (one per rename grows without bound)", buckets, renames)
	}
}

// TestPrune_EventStampedByAnOldClock: an event received while the clock
// was back at 1970 (a Raspberry Pi before NTP set it, README "A Pi's
// clock") is not deleted at the next pass: retention goes in arrival
// order, and it goes with the events received before it.
func TestPrune_EventStampedByAnOldClock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "clock.db")
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	finished := func(delivery string, received time.Time) *NewEvent {
		return &NewEvent{Hook: "h", Delivery: delivery, Received: received, Jobs: []NewJob{{Action: "a", Skip: "when is false"}}}
	}
	if _, err := s.Ingest(ctx, finished("before", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The Pi boots with its clock at 1970.
	boot := time.Unix(60, 0).UTC()
	var clock atomic.Int64
	clock.Store(boot.UnixNano())
	s, err = Open(path, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Ingest(ctx, finished("after-boot", boot)); err != nil {
		t.Fatal(err)
	}
	// A pass before NTP has set the clock.
	if n, err := s.Prune(ctx, boot.Add(-720*time.Hour)); err != nil || n != 0 {
		t.Errorf("Prune by the 1970 clock = %d, %v; want none deleted", n, err)
	}
	// NTP has set the clock: retention of 720h, a day after t0.
	clock.Store(t0.Add(24 * time.Hour).UnixNano())
	if n, err := s.Prune(ctx, t0.Add(24*time.Hour-720*time.Hour)); err != nil || n != 0 {
		t.Errorf("Prune a day after the first event = %d, %v; want none deleted, the 1970 one too", n, err)
	}
	clock.Store(t0.Add(721 * time.Hour).UnixNano())
	if n, err := s.Prune(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("Prune once the first event is past retention = %d, %v; want both deleted", n, err)
	}
}
