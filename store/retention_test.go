package store

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
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
