package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// garbage is what a damaged record holds: bytes JSON cannot decode.
var garbage = []byte("\x00\x13{\"id\":\xff bit rot")

// logBuffer collects log lines for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testClock is a clock a test moves.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *testClock) set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func (c *testClock) add(d time.Duration)  { c.ns.Add(int64(d)) }
func newTestClock(t time.Time) *testClock { c := new(testClock); c.set(t); return c }

// damage overwrites the record key of bucket in the closed file at path
// with garbage, as bit rot would.
func damage(t *testing.T, path string, bucket []byte, key string) {
	t.Helper()
	editFile(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucket).Get([]byte(key)) == nil {
			t.Fatalf("no record %s in %s", key, bucket)
		}
		return tx.Bucket(bucket).Put([]byte(key), garbage)
	})
}

// reopen opens the file at path again, its log going to logs and t.
func reopen(t *testing.T, path string, opts Options, logs *logBuffer) *Store {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open after the damage: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
		t.Logf("log:\n%s", logs)
	})
	return s
}

// countKeys counts the keys of the buckets named.
func countKeys(t *testing.T, s *Store, names ...[]byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	s.db.View(func(tx *bolt.Tx) error {
		for _, n := range names {
			out[string(n)] = tx.Bucket(n).Stats().KeyN
		}
		return nil
	})
	return out
}

// TestPrune_DamagedEvent: one event whose record cannot be decoded, among
// old ones, does not stop retention: the events past it are pruned, and so
// is it (its id says it is old), with its body, its jobs and their runs
// and index entries; the count of events stays right, one warning names
// it, and a redelivery of it, whose de-duplication entry could not be
// cleaned, is stored as a new event rather than taken for a duplicate of
// an event that is gone.
func TestPrune_DamagedEvent(t *testing.T) {
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i, d := range []string{"d0", "d1", "d2", "d3", "d4"} {
		ne := newEvent("h", d, job("a"), NewJob{Action: "b", Skip: "when: false"})
		ne.Received = clock.now()
		res, err := s.Ingest(ctx, ne)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		// Run each event's queued job to success, with a run.
		due, _, err := s.Due("h", "a", clock.now(), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("event %d: Due = %v, %v", i, due, err)
		}
		started, err := s.Start(ctx, due[0].JobID)
		if err != nil || len(started) != 1 {
			t.Fatalf("Start = %v, %v", started, err)
		}
		if _, err := s.Finish(ctx, started[0].ID, Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded, Output: []byte("ok")}}); err != nil {
			t.Fatal(err)
		}
		clock.add(time.Minute)
	}
	// A day later, one event that is not past retention.
	clock.add(24 * time.Hour)
	young := newEvent("h", "young", NewJob{Action: "b", Skip: "no"})
	young.Received = clock.now()
	yres, err := s.Ingest(ctx, young)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bad := ids[1]
	damage(t, path, bEvents, bad)

	logs := new(logBuffer)
	s = reopen(t, path, Options{Now: clock.now}, logs)
	n, err := s.Prune(ctx, clock.now().Add(-12*time.Hour))
	if err != nil || n != len(ids) {
		t.Fatalf("Prune past a damaged event = %d, %v; want %d, nil", n, err, len(ids))
	}
	for _, id := range ids {
		if _, err := s.GetEvent(id, false); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetEvent(%s) after the prune: %v; want not found", id, err)
		}
	}
	if _, err := s.GetEvent(yres.ID, false); err != nil {
		t.Errorf("the event not past retention: %v", err)
	}
	keys := countKeys(t, s, bEvents, bRaw, bJobs, bRuns, bState)
	if want := map[string]int{"events": 1, "raw": 1, "jobs": 1, "runs": 0, "state": 1}; !equalCounts(keys, want) {
		t.Errorf("records left: %v; want %v (the young event and its job only)", keys, want)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 1 || st.Jobs[Succeeded] != 0 || st.Jobs[Skipped] != 1 {
		t.Errorf("Stats after the prune: %d events, jobs %v; want 1 event, 1 skipped job", st.Events, st.Jobs)
	}
	log := logs.String()
	if strings.Count(log, "event_id="+bad) != 1 || !strings.Contains(log, "level=WARN") || !strings.Contains(log, "de-duplication") {
		t.Errorf("want one warning naming %s and its de-duplication entry; log:\n%s", bad, log)
	}
	// The damaged event's delivery id, redelivered: stored anew.
	re := newEvent("h", "d1", NewJob{Action: "b", Skip: "no"})
	re.Received = clock.now()
	res, err := s.Ingest(ctx, re)
	if err != nil || res.Duplicate {
		t.Fatalf("redelivery of the pruned damaged event = %+v, %v; want a new event", res, err)
	}
	if _, err := s.GetEvent(res.ID, false); err != nil {
		t.Errorf("the redelivery: %v", err)
	}
	// And again: now a duplicate of the new one.
	if res2, err := s.Ingest(ctx, re); err != nil || !res2.Duplicate || res2.ID != res.ID {
		t.Errorf("second redelivery = %+v, %v; want a duplicate of %s", res2, err, res.ID)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestPrune_DamagedEventNotYetOld: a damaged event whose id is not past
// retention stays, and so do the events after it; the ones before it go.
// PruneToSize gets past it too.
func TestPrune_DamagedEventNotYetOld(t *testing.T) {
	clock := newTestClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		// With delivery ids: Close merges their de-duplication entries
		// and marks every event merged, so that Open need not read them.
		ne := newEvent("h", fmt.Sprint("d", i), NewJob{Action: "b", Skip: "no"})
		ne.Received = clock.now()
		res, err := s.Ingest(ctx, ne)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		clock.add(time.Hour)
	}
	s.Close()
	damage(t, path, bEvents, ids[2])
	s = reopen(t, path, Options{Now: clock.now}, new(logBuffer))
	// Past retention: the first two (received at 12:00 and 13:00).
	n, err := s.Prune(ctx, time.Date(2026, 3, 1, 13, 30, 0, 0, time.UTC))
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2", n, err)
	}
	if _, err := s.GetEvent(ids[2], false); !errors.Is(err, ErrDamaged) {
		t.Errorf("GetEvent(the damaged event) = %v; want ErrDamaged", err)
	}
	n, err = s.PruneToSize(ctx, 1)
	if err != nil || n != 2 {
		t.Fatalf("PruneToSize past a damaged event = %d, %v; want 2", n, err)
	}
	if st, _ := s.Stats(); st.Events != 0 {
		t.Errorf("%d events counted; want 0", st.Events)
	}
}

// TestPrune_DamagedJob: an old event one of whose jobs cannot be decoded
// is pruned all the same, the job with it (its state from the state
// index: it was finished).
func TestPrune_DamagedJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var evs []string
	var jobs []string
	for i := range 3 {
		res, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("d", i), NewJob{Action: "b", Skip: "no"}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		evs, jobs = append(evs, res.ID), append(jobs, ev.JobIDs[0])
	}
	s.Close()
	damage(t, path, bJobs, jobs[1])
	s = reopen(t, path, Options{}, new(logBuffer))
	n, err := s.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Prune past a damaged job = %d, %v; want 3", n, err)
	}
	keys := countKeys(t, s, bEvents, bRaw, bJobs, bState)
	if want := map[string]int{"events": 0, "raw": 0, "jobs": 0, "state": 0}; !equalCounts(keys, want) {
		t.Errorf("records left: %v; want none", keys)
	}
	if st, _ := s.Stats(); st.Jobs[Skipped] != 0 {
		t.Errorf("%d skipped jobs counted; want 0", st.Jobs[Skipped])
	}
}

// TestListEvents_DamagedEvent: a listing does not fail at an event that
// cannot be decoded: it shows it, with its id, the time in its id and the
// state Damaged, among the others; a filter by hook or state leaves it
// out (it cannot tell), and so does the walk of a bulk replay. GetEvent
// says it is damaged. It is logged once, however often it is listed. A
// damaged job of a readable event is listed as damaged, and so is a
// damaged run.
func TestListEvents_DamagedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids, jobs []string
	for i := range 4 {
		res, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("d", i), NewJob{Action: "b", Skip: "no"}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids, jobs = append(ids, res.ID), append(jobs, ev.JobIDs[0])
	}
	s.Close()
	damage(t, path, bEvents, ids[1])
	damage(t, path, bJobs, jobs[2])
	logs := new(logBuffer)
	s = reopen(t, path, Options{listChunk: 2}, logs)

	for range 2 {
		evs, next, err := s.ListEvents(EventFilter{})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if got, want := evIDs(evs), []string{ids[3], ids[2], ids[1], ids[0]}; fmt.Sprint(got) != fmt.Sprint(want) || next != "" {
			t.Fatalf("ListEvents = %v, %q; want %v", got, next, want)
		}
		if d := evs[2]; d.State != Damaged || !d.Received.Equal(IDTime(ids[1])) {
			t.Errorf("the damaged event is listed as %+v, state %s; want state %s, received %v", d.Event, d.State, Damaged, IDTime(ids[1]))
		}
		if j := evs[1].Jobs; len(j) != 1 || j[0].ID != jobs[2] || j[0].State != Damaged {
			t.Errorf("the event with a damaged job is listed with jobs %+v; want its job as damaged", j)
		}
	}
	evs, _, err := s.ListEvents(EventFilter{Hook: "h"})
	if got, want := evIDs(evs), []string{ids[3], ids[2], ids[0]}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListEvents(hook h) = %v, %v; want %v", got, err, want)
	}
	evs, _, err = s.ScanEvents(EventFilter{}, "")
	if got, want := evIDs(evs), []string{ids[0], ids[2], ids[3]}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ScanEvents = %v, %v; want %v", got, err, want)
	}
	if _, err := s.GetEvent(ids[1], true); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "backup") {
		t.Errorf("GetEvent(the damaged event) = %v; want ErrDamaged, saying to restore a backup", err)
	}
	list, _, err := s.ListJobs(Skipped, "", 10)
	if err != nil || len(list) != 4 || list[2].State != Damaged {
		t.Errorf("ListJobs(skipped) = %v, %v; want 4, the third damaged", list, err)
	}
	if _, err := s.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}
	log := logs.String()
	if n := strings.Count(log, "event_id="+ids[1]); n != 1 {
		t.Errorf("the damaged event is logged %d times; want once. Log:\n%s", n, log)
	}
	if n := strings.Count(log, "job_id="+jobs[2]); n != 1 {
		t.Errorf("the damaged job is logged %d times; want once. Log:\n%s", n, log)
	}
}

// TestRuns_Damaged: a run that cannot be decoded is shown as damaged, and
// the job's other runs are read.
func TestRuns_Damaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, jobID := queued(t, s, job("a"))
	for i := range 2 {
		if _, err := s.Start(ctx, jobID); err != nil {
			t.Fatal(err)
		}
		st := Failed
		if i == 1 {
			st = Succeeded
		}
		if _, err := s.Finish(ctx, jobID, Outcome{State: st, Concurrency: 1, Run: Run{Result: RunFailed}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bRuns).Put(runKey(jobID, 1), garbage) })
	s = reopen(t, path, Options{}, new(logBuffer))
	runs, err := s.Runs(jobID)
	if err != nil || len(runs) != 2 || runs[0].Result != string(Damaged) || runs[0].Attempt != 1 || runs[1].Attempt != 2 {
		t.Errorf("Runs = %+v, %v; want the first damaged, the second read", runs, err)
	}
	last, earlier, err := s.LastRuns(jobID, 5)
	if err != nil || len(last) != 2 || earlier != 0 {
		t.Errorf("LastRuns = %v, %d, %v", last, earlier, err)
	}
}

// TestOpen_DamagedRunningJob: a job that was running when the file was
// closed, and whose record cannot be decoded, does not stop the start:
// it is set aside, out of its queue, and the queue's next job can run.
func TestOpen_DamagedRunningJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, first := queued(t, s, job("a"))
	_, second := queued(t, s, job("a"))
	if started, err := s.Start(ctx, first); err != nil || len(started) != 1 {
		t.Fatalf("Start = %v, %v", started, err)
	}
	s.Close()
	damage(t, path, bJobs, first)
	logs := new(logBuffer)
	s = reopen(t, path, Options{}, logs)
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("h", "a", time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 || due[0].JobID != second {
		t.Fatalf("Due = %v, %v; want the second job", due, err)
	}
	if st, _ := s.Stats(); st.Jobs[Running] != 0 || st.Jobs[Pending] != 1 {
		t.Errorf("jobs by state: %v; want 1 pending, none running", st.Jobs)
	}
	if !strings.Contains(logs.String(), "job_id="+first) {
		t.Errorf("the damaged job is not logged:\n%s", logs)
	}
}

// TestFinish_DamagedRunningJob: a job whose record is damaged while it
// runs cannot have its run recorded; its finish left it running in the
// file — in the state index and its queue's window — so that with
// concurrency 1 every job behind it waited until a restart, and
// retention kept its event. The finish sets it aside instead, as Open
// does, and the queue's next job moves into the window.
func TestFinish_DamagedRunningJob(t *testing.T) {
	logs := new(logBuffer)
	s := reopen(t, filepath.Join(t.TempDir(), "d.db"), Options{}, logs)
	ctx := context.Background()
	_, first := queued(t, s, job("a"))
	_, second := queued(t, s, job("a"))
	if started, err := s.Start(ctx, first); err != nil || len(started) != 1 {
		t.Fatalf("Start = %v, %v", started, err)
	}
	if err := s.update(ctx, false, func(tx *bolt.Tx) error { return tx.Bucket(bJobs).Put([]byte(first), garbage) }); err != nil {
		t.Fatal(err)
	}
	_, started, err := s.FinishAndStart(ctx, first, Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded}}, 1)
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("FinishAndStart(damaged job) = %v; want ErrDamaged", err)
	}
	var ids []string
	for _, j := range started {
		ids = append(ids, j.ID)
	}
	if due, _, _ := s.Due("h", "a", time.Now().Add(time.Second), 10); len(ids) == 0 && (len(due) != 1 || due[0].JobID != second) {
		t.Errorf("after the finish of the damaged job: started %v, due %v; want the second job %s started or due", ids, due, second)
	}
	if st, _ := s.Stats(); st.Jobs[Running] != 0 {
		t.Errorf("jobs by state: %v; want none running (the damaged one set aside)", st.Jobs)
	}
	if !strings.Contains(logs.String(), "set aside") {
		t.Errorf("the damaged job is not logged as set aside:\n%s", logs)
	}
}

// TestGetEvent_DamagedBody: an event whose record of headers and body is
// damaged is ErrDamaged, as a damaged event record is: a run of it fails
// at once rather than retrying, and the API says to restore a backup. A
// record that still decodes but whose body is not the event's size is
// damaged too. A count in the record that says more than it holds costs
// no allocation of that size. Until 2026-12-07 the first was a bare
// "corrupt raw record", the second went unseen, and the third sized a
// map and a slice by the damaged count, up to the record's length.
func TestGetEvent_DamagedBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		ne := newEvent("h", fmt.Sprint("d", i))
		ne.Body = bytes.Repeat([]byte("x"), 4<<20)
		res, err := s.Ingest(ctx, ne)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	s.Close()
	editFile(t, path, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bRaw)
		if err := raw.Put([]byte(ids[0]), garbage); err != nil {
			return err
		}
		// A body a byte short: the record decodes.
		v := bytes.Clone(raw.Get([]byte(ids[1])))
		if err := raw.Put([]byte(ids[1]), v[:len(v)-1]); err != nil {
			return err
		}
		// Its header count says 2^22 where it said 2: the record is
		// then read as headers until its bytes run out.
		v = bytes.Clone(raw.Get([]byte(ids[2])))
		v = append(binary.AppendUvarint(nil, 1<<22), v[1:]...)
		return raw.Put([]byte(ids[2]), v)
	})
	logs := new(logBuffer)
	s = reopen(t, path, Options{}, logs)
	for i, id := range ids[:3] {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ev, err := s.GetEvent(id, true)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrDamaged) || ev != nil || !strings.Contains(err.Error(), id) {
			t.Errorf("event %d: GetEvent = (an event: %t), %v; want ErrDamaged naming it", i, ev != nil, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Errorf("event %d: GetEvent allocated %d MB for a record of 4 MiB", i, alloc>>20)
		}
		if _, err := s.GetEventHead(id, 1024); !errors.Is(err, ErrDamaged) {
			t.Errorf("event %d: GetEventHead = %v; want ErrDamaged", i, err)
		}
	}
	if ev, err := s.GetEvent(ids[3], true); err != nil || len(ev.Body) != 4<<20 {
		t.Errorf("the undamaged event: %v", err)
	}
}
