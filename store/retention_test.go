package store

import (
	"context"
	"fmt"
	"path/filepath"
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
