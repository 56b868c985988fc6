package store

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
)

// TestOpen_BacklogNotRead: README guarantee 5, "A backlog lives on disk,
// not in memory ... the daemon reads its queue a page at a time and starts
// without scanning it." Opening a file with 20,000 queued jobs allocates
// about as much as opening one with 10, and reading the first page of the
// queue as much as reading it from the small one: neither walks the jobs.
func TestOpen_BacklogNotRead(t *testing.T) {
	cost := func(jobs int) (open, page uint64) {
		path := filepath.Join(t.TempDir(), "b.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		nj := make([]NewJob, jobs)
		for i := range nj {
			nj[i] = NewJob{Action: "deploy", Concurrency: 1}
		}
		if _, err := s.Ingest(context.Background(), newEvent("h", "", nj...)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		var m0, m1, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&m1)
		due, _, err := s.Due("h", "deploy", s.now().Add(1), 256)
		runtime.ReadMemStats(&m2)
		if err != nil || len(due) == 0 {
			t.Fatalf("Due = %d jobs, %v; want the window's", len(due), err)
		}
		if st, err := s.Stats(); err != nil || st.Jobs[Pending] != int64(jobs) {
			t.Fatalf("Stats = %+v, %v; want %d pending", st, err, jobs)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return m1.Mallocs - m0.Mallocs, m2.Mallocs - m1.Mallocs
	}
	smallOpen, smallPage := cost(10)
	bigOpen, bigPage := cost(20000)
	t.Logf("allocations: Open %d with 10 jobs queued, %d with 20,000; first page of the queue %d, %d", smallOpen, bigOpen, smallPage, bigPage)
	// Reading the jobs would cost at least one allocation each.
	if bigOpen > 2*smallOpen+2000 {
		t.Errorf("Open of a file with 20,000 queued jobs: %d allocations; with 10: %d. Want about the same: a start does not read the backlog", bigOpen, smallOpen)
	}
	if bigPage > 2*smallPage+2000 {
		t.Errorf("first page of a queue of 20,000: %d allocations; of 10: %d. Want about the same: the queue is read a page at a time", bigPage, smallPage)
	}
}
