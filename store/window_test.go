package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// inFlight returns the jobs of hook's action that are in flight in queue
// key: running, or in the window and due (now or at their retry).
func inFlight(t *testing.T, s *Store, hook, action, key string) (running, due []string) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := queuePrefix(hook, action, key)
		c := tx.Bucket(bQueue).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			switch id := string(k[len(prefix):]); v[0] {
			case qRunning:
				running = append(running, id)
			case qDue:
				due = append(due, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return running, due
}

// TestStore_RefillCountsRunsPastWaiting: concurrency 3 with A, B and C
// running; a reload lowers it to 1 and B fails (it waits behind A, C runs
// on past the window); another raises it to 2 before A and C end. A and C
// are the two in flight: B must wait, and when A then fails (its retry an
// hour away) no job may start, A and C being in flight still. The window
// was counted as the queue's first two entries (A, B), C ignored, so B
// joined it, and A's failure started it: three in flight.
func TestStore_RefillCountsRunsPastWaiting(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	var ids []string // A, B, C, D
	for range 4 {
		_, id := queued(t, s, NewJob{Action: "a", Concurrency: 3})
		ids = append(ids, id)
	}
	a, b, c := ids[0], ids[1], ids[2]
	if st, err := s.Start(ctx, a, b, c); err != nil || len(st) != 3 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	resize := func(n int) {
		t.Helper()
		if err := s.Refill(ctx, "h", "a", func() int { return n }); err != nil {
			t.Fatal(err)
		}
	}
	resize(1)
	if _, err := s.Finish(ctx, b, Outcome{State: Failed, NextAt: now, Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	resize(2)
	if running, due := inFlight(t, s, "h", "a", ""); len(running)+len(due) > 2 {
		t.Errorf("concurrency 3 -> 1 -> 2, B=%s failed: running %v, due %v; want A=%s and C=%s alone in flight, B waiting", b, running, due, a, c)
	}
	_, started, err := s.FinishAndStart(ctx, a, Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) > 0 {
		t.Errorf("A failed, its retry in an hour, C running, concurrency 2: FinishAndStart started %s; want none", started[0].ID)
	}
	if running, due := inFlight(t, s, "h", "a", ""); len(running)+len(due) > 2 {
		t.Errorf("after A failed: running %v, due %v; want A=%s (due) and C=%s (running) alone", running, due, a, c)
	}
}

// windowEntry is what a model knows of an unfinished job of a queue, for
// checkWindow.
type windowEntry struct {
	id           string
	running, due bool
	forced       bool // put back in its window by a person (Retry of a finished job)
}

// checkWindow checks a queue's window, its unfinished jobs in arrival
// order, against its concurrency conc (see refill):
//
//   - the bound: at most conc jobs are in flight (running, or due: now or
//     at their retry), a person's retries aside; when more run than that
//     (a reload lowered the concurrency while they ran), none is due;
//   - no room lost: of the jobs that do not run, the first conc-r, r the
//     running ones, are due.
func checkWindow(conc int, js []windowEntry) error {
	running, runningNF, dueNF := 0, 0, 0
	for _, e := range js {
		switch {
		case e.running:
			running++
			if !e.forced {
				runningNF++
			}
		case e.due && !e.forced:
			dueNF++
		}
	}
	if dueNF > max(0, conc-runningNF) {
		return fmt.Errorf("%d running and %d due (a person's retries aside): more than %d in flight", runningNF, dueNF, conc)
	}
	rank := 0
	for _, e := range js {
		if e.running {
			continue
		}
		if rank < conc-running && !e.due {
			return fmt.Errorf("job %s waits, #%d of those that do not run, with %d running: the window has room for %d of them", e.id, rank, running, conc-running)
		}
		rank++
	}
	return nil
}

// TestStore_WindowSizeAsWritten: jobs planned under one concurrency and
// written after a reload changed it take the concurrency SetWindowSize
// says as they are written, not the one they were planned with: lowered
// 3 -> 1 while A runs, a job planned under 3 waits behind A (it joined
// the window beside A, and ran when A failed, before A's retry); raised
// 1 -> 3, one planned under 1 joins the window beside A (it waited
// behind A, while the jobs planned after the reload went ahead of it). A
// cancel asked under the old size refills to the new one.
func TestStore_WindowSizeAsWritten(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	var size atomic.Int64 // the config's concurrency
	size.Store(3)
	s.SetWindowSize(func(hook, action string) int {
		if hook == "h" && action == "a" {
			return int(size.Load())
		}
		return 0
	})
	_, a := queued(t, s, NewJob{Action: "a", Concurrency: 3})
	if st, err := s.Start(ctx, a); err != nil || len(st) != 1 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	size.Store(1) // a reload, after the next job was planned
	_, n := queued(t, s, NewJob{Action: "a", Concurrency: 3})
	if running, due := inFlight(t, s, "h", "a", ""); len(due) > 0 {
		t.Errorf("concurrency 3 -> 1, A=%s running, N=%s planned under 3: running %v, due %v; want N waiting", a, n, running, due)
	}
	if _, err := s.Finish(ctx, a, Outcome{State: Succeeded, Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	if _, due := inFlight(t, s, "h", "a", ""); fmt.Sprint(due) != fmt.Sprint([]string{n}) {
		t.Fatalf("A done: due %v; want N=%s", due, n)
	}
	if st, err := s.Start(ctx, n); err != nil || len(st) != 1 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	size.Store(3) // a reload, after the next job was planned
	_, m := queued(t, s, NewJob{Action: "a", Concurrency: 1})
	if _, due := inFlight(t, s, "h", "a", ""); fmt.Sprint(due) != fmt.Sprint([]string{m}) {
		t.Errorf("concurrency 1 -> 3, N=%s running, M=%s planned under 1: due %v; want M", n, m, due)
	}
	// Two more wait behind a window of 3 (N running, M and X due); a
	// cancel of M asked under concurrency 1 refills the window to 3.
	_, x := queued(t, s, NewJob{Action: "a", Concurrency: 3})
	_, y := queued(t, s, NewJob{Action: "a", Concurrency: 3})
	if _, err := s.Cancel(ctx, m, "test", 1); err != nil {
		t.Fatal(err)
	}
	if _, due := inFlight(t, s, "h", "a", ""); fmt.Sprint(due) != fmt.Sprint([]string{x, y}) {
		t.Errorf("M cancelled, concurrency 3, N running: due %v; want X=%s and Y=%s", due, x, y)
	}
}

// TestStore_RefillSeesWhatCameBefore: a job written under concurrency 3
// whose commit is still being written as a reload lowers it to 1 is
// resized by the reload's Refill, which must see it: Refill read the
// queues' due jobs in a read transaction of its own, before its writes,
// and one begun before that commit ended missed the job, which stayed due
// beside the job running (two in flight, concurrency 1).
func TestStore_RefillSeesWhatCameBefore(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var hold atomic.Bool
	applied, release := make(chan struct{}), make(chan struct{})
	s, _ := openTest(t, Options{Now: func() time.Time { return now }, FailWrites: func() error {
		if hold.CompareAndSwap(true, false) {
			close(applied) // the commit's transaction has applied
			<-release
		}
		return nil
	}})
	ctx := context.Background()
	var size atomic.Int64 // the config's concurrency
	size.Store(3)
	s.SetWindowSize(func(string, string) int { return int(size.Load()) })
	_, a := queued(t, s, NewJob{Action: "a", Concurrency: 3})
	if st, err := s.Start(ctx, a); err != nil || len(st) != 1 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	hold.Store(true)
	ingested := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Concurrency: 3}))
		ingested <- err
	}()
	<-applied // N is due, in a window of 3; its commit is being written
	size.Store(1)
	refilled := make(chan error, 1)
	go func() { refilled <- s.Refill(ctx, "h", "a", func() int { return int(size.Load()) }) }()
	// Time for what Refill reads before it writes: a read of its own does
	// not wait for the commit (this sleep can only hide the fault, on a
	// machine too slow to read in time, not make one).
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-ingested; err != nil {
		t.Fatal(err)
	}
	if err := <-refilled; err != nil {
		t.Fatal(err)
	}
	if running, due := inFlight(t, s, "h", "a", ""); len(due) > 0 {
		t.Errorf("concurrency 3 -> 1 while N's commit was written, A=%s running: running %v, due %v; want N waiting", a, running, due)
	}
}

// checkQueueRuns checks the counts of running jobs by queue (queueRuns)
// against the queues.
func checkQueueRuns(tx *bolt.Tx) error {
	want := map[string]int{}
	c := tx.Bucket(bQueue).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) == 1 && v[0] == qRunning {
			want[string(k[:len(k)-idLen])]++
		}
	}
	got := map[string]int{}
	err := tx.Bucket(bRunning).ForEach(func(k, _ []byte) error {
		got[string(k)] = queueRuns(tx, k)
		return nil
	})
	if err != nil {
		return err
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("counts of running jobs by queue %v; the queues run %v", got, want)
	}
	return nil
}

// TestOpen_DropsQueueRuns: the counts of running jobs by queue hold only
// while a process runs them. Open returns the jobs a crash left running
// to their queues and drops the counts, also one that a build which does
// not keep them left wrong: kept, it would hold the window shut for good.
func TestOpen_DropsQueueRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := Open(path, Options{crashAtClose: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for range 3 {
		_, id := queued(t, s, NewJob{Action: "a", Concurrency: 2})
		ids = append(ids, id)
	}
	if st, err := s.Start(ctx, ids[:2]...); err != nil || len(st) != 2 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	// The count made wrong, as an older build run on the file would
	// leave it: its jobs started and ended without it.
	err = s.update(ctx, false, func(tx *bolt.Tx) error {
		return addQueueRuns(tx, queuePrefix("h", "a", ""), 5)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // a crash: two jobs left running
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bRunning).Cursor().First(); k != nil {
			t.Errorf("after Open, the count of %q is left", k)
		}
		return checkQueueRuns(tx)
	})
	if err != nil {
		t.Error(err)
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 2 }); err != nil {
		t.Fatal(err)
	}
	if _, due := inFlight(t, s, "h", "a", ""); fmt.Sprint(due) != fmt.Sprint(ids[:2]) {
		t.Errorf("after the crash, concurrency 2: due %v; want the two jobs cut off, %v", due, ids[:2])
	}
}

// TestStore_StartKeepsToTheWindow: the scheduler reads the due jobs, then
// starts them; a reload that lowers the concurrency in between (its
// resize committed first) leaves only the window's jobs to start. Start
// took every job still queued, and started three with concurrency 1.
func TestStore_StartKeepsToTheWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	for range 3 {
		queued(t, s, NewJob{Action: "a", Concurrency: 3})
	}
	due, _, err := s.Due("h", "a", now, 10)
	if err != nil || len(due) != 3 {
		t.Fatalf("Due = %v, %v; want 3", dueIDs(due), err)
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	started, err := s.Start(ctx, dueIDs(due)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].ID != due[0].JobID {
		var ids []string
		for _, j := range started {
			ids = append(ids, j.ID)
		}
		t.Errorf("concurrency 3 -> 1 after the due jobs were read: Start(%v) started %v; want only %s", dueIDs(due), ids, due[0].JobID)
	}
}
