package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s, path
}

func newEvent(hook, delivery string, jobs ...NewJob) *NewEvent {
	return &NewEvent{
		Hook: hook, Type: "push", Delivery: delivery, Received: time.Now(),
		ContentType: "application/json",
		Header:      http.Header{"X-Github-Event": {"push"}, "X-Multi": {"a", "b"}},
		Query:       "a=1",
		Body:        []byte(`{"ref":"refs/heads/main"}`),
		Jobs:        jobs,
	}
}

func job(action string) NewJob { return NewJob{Action: action, Concurrency: 1} }

// queued ingests an event of hook "h" with the one job nj, and returns the
// event's id and the job's.
func queued(t *testing.T, s *Store, nj NewJob) (evID, jobID string) {
	t.Helper()
	res, err := s.Ingest(context.Background(), newEvent("h", "", nj))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.GetEvent(res.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID, ev.JobIDs[0]
}

func TestStore_IngestAndRead(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	res, err := s.Ingest(ctx, newEvent("site", "d1", job("deploy"), NewJob{Action: "dev", Skip: "when is false"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Jobs != 1 || !ValidID(res.ID) {
		t.Fatalf("Ingest = %+v; want a new event with 1 queued job", res)
	}
	ev, err := s.GetEvent(res.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Hook != "site" || ev.Delivery != "d1" || string(ev.Body) != `{"ref":"refs/heads/main"}` || ev.Query != "a=1" {
		t.Errorf("GetEvent = %+v", ev)
	}
	if got := ev.Header["X-Multi"]; len(got) != 2 || got[1] != "b" {
		t.Errorf("header X-Multi = %q; want [a b]", got)
	}
	jobs, err := s.Jobs(ev)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("Jobs = %v, %v; want 2", jobs, err)
	}
	if jobs[0].State != Pending || jobs[1].State != Skipped || jobs[1].Reason != "when is false" {
		t.Errorf("job states = %s, %s (%q)", jobs[0].State, jobs[1].State, jobs[1].Reason)
	}

	dup, err := s.Ingest(ctx, newEvent("site", "d1", job("deploy")))
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.ID != res.ID {
		t.Errorf("second Ingest = %+v; want duplicate of %s", dup, res.ID)
	}
	// The same delivery id for another hook is a new event.
	other, err := s.Ingest(ctx, newEvent("other", "d1"))
	if err != nil || other.Duplicate {
		t.Errorf("Ingest other hook = %+v, %v; want new", other, err)
	}
	if _, err := s.GetEvent("0000000000000000", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetEvent(missing) = %v; want ErrNotFound", err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs[Pending] != 1 || st.Jobs[Skipped] != 1 || st.Events != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestStore_RunLifecycle(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	res, err := s.Ingest(ctx, newEvent("site", "", job("deploy")))
	if err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("site", "deploy", time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due = %v, %v; want 1", due, err)
	}
	started, err := s.Start(ctx, due[0].JobID)
	if err != nil || len(started) != 1 || started[0].State != Running || started[0].Attempts != 1 {
		t.Fatalf("Start = %+v, %v", started, err)
	}
	j := started[0]
	if again, err := s.Start(ctx, due[0].JobID); err != nil || len(again) != 0 {
		t.Errorf("Start twice = %v, %v; want nothing started", again, err)
	}
	retryAt := time.Now().Add(time.Hour)
	code := 1
	j, err = s.Finish(ctx, j.ID, Outcome{State: Failed, NextAt: retryAt, Reason: "exit status 1", Concurrency: 1,
		Run: Run{Started: time.Now(), Finished: time.Now(), Result: RunFailed, ExitCode: &code, Output: []byte("boom")}})
	if err != nil || j.State != Failed || j.Failures != 1 {
		t.Fatalf("Finish = %+v, %v", j, err)
	}
	if due, next, _ := s.Due("site", "deploy", time.Now(), 10); len(due) != 0 || !next.Equal(retryAt.Truncate(0)) && next.UnixNano() != retryAt.UnixNano() {
		t.Errorf("Due after failure = %v, next %v; want none until %v", due, next, retryAt)
	}
	if _, err := s.Retry(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	due, _, _ = s.Due("site", "deploy", time.Now().Add(time.Second), 10)
	if len(due) != 1 {
		t.Fatalf("Due after Retry = %v; want 1", due)
	}
	s.Start(ctx, j.ID)
	j, err = s.Finish(ctx, j.ID, Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded, Output: make([]byte, MaxOutput+10)}})
	if err != nil || j.State != Succeeded || j.Attempts != 2 {
		t.Fatalf("Finish = %+v, %v", j, err)
	}
	runs, err := s.Runs(j.ID)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %v, %v; want 2", runs, err)
	}
	if string(runs[0].Output) != "boom" || *runs[0].ExitCode != 1 || runs[0].Attempt != 1 {
		t.Errorf("run 1 = %+v", runs[0])
	}
	if len(runs[1].Output) != MaxOutput || !runs[1].Truncated {
		t.Errorf("run 2 output %d bytes, truncated %v; want %d, true", len(runs[1].Output), runs[1].Truncated, MaxOutput)
	}
	ev, _ := s.GetEvent(res.ID, false)
	jobs, _ := s.Jobs(ev)
	if st := EventState(jobs); st != Succeeded {
		t.Errorf("EventState = %s; want succeeded", st)
	}
}

// TestStore_Window: with concurrency 1 only the oldest job of a queue is
// due; the next becomes due when it finishes. Keys make separate queues.
func TestStore_Window(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		res, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Key: "main", Concurrency: 1}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids = append(ids, ev.JobIDs[0])
	}
	res, _ := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Key: "dev", Concurrency: 1}))
	dev, _ := s.GetEvent(res.ID, false)
	later := time.Now().Add(time.Second)
	due, _, _ := s.Due("h", "a", later, 10)
	if got := dueIDs(due); fmt.Sprint(got) != fmt.Sprint([]string{ids[0], dev.JobIDs[0]}) {
		t.Fatalf("Due = %v; want [%s %s]", got, ids[0], dev.JobIDs[0])
	}
	for i, id := range ids {
		due, _, _ := s.Due("h", "a", later, 10)
		if len(due) == 0 || due[0].JobID != id {
			t.Fatalf("step %d: Due = %v; want %s first", i, dueIDs(due), id)
		}
		if _, err := s.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, id, Outcome{State: Succeeded, Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

func dueIDs(d []DueJob) []string {
	var out []string
	for _, j := range d {
		out = append(out, j.JobID)
	}
	return out
}

// TestStore_Coalesce: a new job skips the queued ones before it, not the
// running one.
func TestStore_Coalesce(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	nj := NewJob{Action: "deploy", Concurrency: 1, Coalesce: true}
	var jobIDs, evIDs []string
	for i := 0; i < 4; i++ {
		res, err := s.Ingest(ctx, newEvent("h", "", nj))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		jobIDs = append(jobIDs, ev.JobIDs[0])
		evIDs = append(evIDs, ev.ID)
		if i == 0 {
			if _, err := s.Start(ctx, ev.JobIDs[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []State{Running, Skipped, Skipped, Pending}
	for i, id := range jobIDs {
		j, _ := s.GetJob(id)
		if j.State != want[i] {
			t.Errorf("job %d state = %s; want %s", i, j.State, want[i])
		}
		if j.State == Skipped && j.Reason != "superseded by event "+evIDs[i+1] {
			t.Errorf("job %d reason = %q", i, j.Reason)
		}
	}
	if _, err := s.Finish(ctx, jobIDs[0], Outcome{State: Succeeded, Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	due, _, _ := s.Due("h", "deploy", time.Now().Add(time.Second), 10)
	if len(due) != 1 || due[0].JobID != jobIDs[3] {
		t.Errorf("Due = %v; want the newest %s", dueIDs(due), jobIDs[3])
	}
}

// TestStore_CoalesceReplayOfOlderEvent: a replay of an older event
// (AddJobs) in a coalesced queue skips the queued jobs of events older
// than it, not the job of a newer event waiting behind the running one:
// that newer push still deploys.
func TestStore_CoalesceReplayOfOlderEvent(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	nj := NewJob{Action: "deploy", Concurrency: 1, Coalesce: true}
	var evIDs, jobIDs []string
	for range 3 {
		evID, jobID := queued(t, s, nj)
		evIDs, jobIDs = append(evIDs, evID), append(jobIDs, jobID)
		if len(jobIDs) == 1 {
			if _, err := s.Start(ctx, jobID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Event 2's job was superseded by event 3's; event 1's runs. Event 2
	// is replayed: older than event 3, it leaves event 3's job queued.
	added, err := s.AddJobs(ctx, evIDs[1], []NewJob{nj})
	if err != nil || len(added) != 1 {
		t.Fatalf("AddJobs = %v, %v", added, err)
	}
	if j, _ := s.GetJob(jobIDs[2]); j.State != Pending {
		t.Errorf("the newest event's job is %s (%s) after a replay of an older event; want pending", j.State, j.Reason)
	}
	if j, _ := s.GetJob(added[0].ID); j.State != Pending {
		t.Errorf("the replayed job is %s (%s); want pending (a person asked)", j.State, j.Reason)
	}
}

// TestStore_Instance: a database has a random name of its own, kept
// across a reopen and unlike another database's (job ids are unique only
// within one, and a signed relay's webhook-id must be unique beside other
// webhookds' relays too).
func TestStore_Instance(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *Store {
		s, err := Open(filepath.Join(dir, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open("a.db"), open("b.db")
	ia, ib := a.Instance(), b.Instance()
	a.Close()
	b.Close()
	if len(ia) != 32 || ia == ib {
		t.Fatalf("instances %q and %q; want two different 32-digit names", ia, ib)
	}
	a = open("a.db")
	defer a.Close()
	if got := a.Instance(); got != ia {
		t.Errorf("instance after a reopen = %q; want %q", got, ia)
	}
}

// TestStore_RefusesAnotherProgramsFile: a bbolt file with buckets and no
// webhookd schema is refused, and left as it was.
func TestStore_RefusesAnotherProgramsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of another program's bbolt file succeeded; want it refused")
	}
	if !strings.Contains(err.Error(), "not a webhookd database") || !strings.Contains(err.Error(), "widgets") {
		t.Errorf("Open = %v; want it to say the file is not a webhookd database, naming its buckets", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the other program's file was changed")
	}
}

// TestStore_Recover: a job running when the store closed is due again
// after reopening, with a run recording the interruption.
func TestStore_Recover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, _ := s.Ingest(ctx, newEvent("h", "", job("a")))
	ev, _ := s.GetEvent(res.ID, false)
	if n := s.Interrupted(); n != 0 {
		t.Errorf("Interrupted() = %d on a new store; want 0", n)
	}
	if _, err := s.Start(ctx, ev.JobIDs[0]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.Interrupted(); n != 1 {
		t.Errorf("Interrupted() = %d after reopening with one job running; want 1", n)
	}
	j, _ := s.GetJob(ev.JobIDs[0])
	if j.State != Pending || j.Attempts != 1 {
		t.Errorf("after reopen job = %s attempts %d; want pending, 1", j.State, j.Attempts)
	}
	runs, _ := s.Runs(j.ID)
	if len(runs) != 1 || runs[0].Result != RunInterrupted {
		t.Errorf("runs = %+v; want one interrupted", runs)
	}
	// Back in its place, waiting: the scheduler's start resizes the
	// queue to the action's concurrency, which makes it due.
	if due, _, _ := s.Due("h", "a", time.Now().Add(time.Second), 10); len(due) != 0 {
		t.Errorf("Due before the start's resize = %v; want none", due)
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	due, _, _ := s.Due("h", "a", time.Now().Add(time.Second), 10)
	if len(due) != 1 {
		t.Errorf("Due = %v; want the interrupted job", due)
	}
	st, _ := s.Stats()
	if st.Jobs[Running] != 0 || st.Jobs[Pending] != 1 {
		t.Errorf("Stats = %v", st.Jobs)
	}
	// The ids after reopening still sort after the old ones.
	res2, _ := s.Ingest(ctx, newEvent("h", ""))
	if res2.ID <= res.ID {
		t.Errorf("id after reopen %s <= %s", res2.ID, res.ID)
	}
}

// TestStore_GroupCommit: concurrent ingests share commits.
func TestStore_GroupCommit(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, each = 32, 20
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Ingest(ctx, newEvent("h", fmt.Sprintf("%d-%d", w, i), job("a"))); err != nil {
					errs <- err
				}
			}
		}()
	}
	commits, events := 0, 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case c := <-s.Commits():
			commits++
			events += c.Events
		case <-done:
			break loop
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if st.Events != writers*each {
		t.Fatalf("events = %d; want %d", st.Events, writers*each)
	}
	t.Logf("%d events in %d commits seen", events, commits)
	if commits >= events {
		t.Errorf("%d commits for %d events: no commit was shared", commits, events)
	}
}

// TestStore_CommitEventsCountsWritten: a commit's Events counts the
// events it wrote; a duplicate delivery writes none.
func TestStore_CommitEventsCountsWritten(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	total := 0
	for i := 0; i < 6; i++ {
		if _, err := s.Ingest(ctx, newEvent("h", "same-delivery", job("a"))); err != nil {
			t.Fatal(err)
		}
		total += (<-s.Commits()).Events
	}
	if total != 1 {
		t.Errorf("commits counted %d events for one delivery and five duplicates; want 1", total)
	}
}

// TestStore_FailedWrite: a commit that fails acknowledges nothing and
// leaves nothing behind.
func TestStore_FailedWrite(t *testing.T) {
	var fail sync.Mutex
	broken := false
	s, _ := openTest(t, Options{FailWrites: func() error {
		fail.Lock()
		defer fail.Unlock()
		if broken {
			return errors.New("no space left on device")
		}
		return nil
	}})
	ctx := context.Background()
	fail.Lock()
	broken = true
	fail.Unlock()
	if _, err := s.Ingest(ctx, newEvent("h", "x", job("a"))); !IsWriteError(err) {
		t.Fatalf("Ingest on a failing disk = %v; want a write error", err)
	}
	fail.Lock()
	broken = false
	fail.Unlock()
	res, err := s.Ingest(ctx, newEvent("h", "x", job("a")))
	if err != nil || res.Duplicate {
		t.Fatalf("Ingest after recovery = %+v, %v; want a new event", res, err)
	}
	st, _ := s.Stats()
	if st.Events != 1 || st.Jobs[Pending] != 1 {
		t.Errorf("Stats = %+v; want one event", st)
	}
}

func TestStore_Prune(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s, _ := openTest(t, Options{Now: clock})
	ctx := context.Background()
	old := newEvent("h", "old", NewJob{Action: "a", Skip: "no"})
	old.Received = now.Add(-48 * time.Hour)
	r1, _ := s.Ingest(ctx, old)
	held := newEvent("h", "held", job("a"))
	held.Received = now.Add(-48 * time.Hour)
	r2, _ := s.Ingest(ctx, held)
	fresh := newEvent("h", "fresh", NewJob{Action: "a", Skip: "no"})
	r3, _ := s.Ingest(ctx, fresh)

	n, err := s.Prune(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if _, err := s.GetEvent(r1.ID, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("old finished event still there: %v", err)
	}
	for _, id := range []string{r2.ID, r3.ID} {
		if _, err := s.GetEvent(id, false); err != nil {
			t.Errorf("event %s: %v; want kept", id, err)
		}
	}
	// Its delivery id may be used again.
	again, _ := s.Ingest(ctx, newEvent("h", "old"))
	if again.Duplicate {
		t.Errorf("delivery of a pruned event is still a duplicate")
	}
	st, _ := s.Stats()
	if st.Jobs[Skipped] != 1 || st.Jobs[Pending] != 1 {
		t.Errorf("counts after prune = %v", st.Jobs)
	}
}

func TestStore_PruneBatches(t *testing.T) {
	now := time.Now()
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	const n = PruneBatch*2 + 17
	for i := 0; i < n; i++ {
		ev := newEvent("h", fmt.Sprint(i), NewJob{Action: "a", Skip: "no"})
		ev.Received = now.Add(-time.Hour)
		if _, err := s.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Prune(ctx, now)
	if err != nil || got != n {
		t.Fatalf("Prune = %d, %v; want %d", got, err, n)
	}
}

func TestStore_ReadOnlyWhileLocked(t *testing.T) {
	_, path := openTest(t, Options{})
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("second Open succeeded; want the lock to refuse it")
	}
}

func TestStore_ListEvents(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 7; i++ {
		hook := "a"
		if i%2 == 1 {
			hook = "b"
		}
		res, _ := s.Ingest(ctx, newEvent(hook, "", NewJob{Action: "x", Skip: "no"}))
		ids = append(ids, res.ID)
	}
	page, next, err := s.ListEvents(EventFilter{Limit: 3})
	if err != nil || len(page) != 3 || page[0].ID != ids[6] || next != ids[4] {
		t.Fatalf("page 1 = %v next %q, %v", evIDs(page), next, err)
	}
	page, next, _ = s.ListEvents(EventFilter{Limit: 3, Before: next})
	if len(page) != 3 || page[0].ID != ids[3] {
		t.Fatalf("page 2 = %v next %q", evIDs(page), next)
	}
	page, _, _ = s.ListEvents(EventFilter{Hook: "b"})
	if len(page) != 3 {
		t.Errorf("hook b = %v; want 3", evIDs(page))
	}
	page, _, _ = s.ListEvents(EventFilter{State: Skipped})
	if len(page) != 7 {
		t.Errorf("state skipped = %d; want 7", len(page))
	}
}

// TestStore_ListEventsScanBound: a listing that looks at as many events
// as one call may returns a cursor from which the next call goes on, and
// following it finds every match wherever the bound falls: the rare hook's
// one event is found at every position among another hook's.
func TestStore_ListEventsScanBound(t *testing.T) {
	const bound, total = 10, 31
	for pos := range total {
		s, _ := openTest(t, Options{maxScan: bound})
		ctx := context.Background()
		var want string
		for i := range total {
			hook := "common"
			if i == pos {
				hook = "rare"
			}
			res, err := s.Ingest(ctx, newEvent(hook, "", NewJob{Action: "x", Skip: "no"}))
			if err != nil {
				t.Fatal(err)
			}
			if i == pos {
				want = res.ID
			}
		}
		var got []string
		next, calls := "", 0
		for {
			calls++
			if calls > total {
				t.Fatalf("rare at %d: listing does not end (cursor %q)", pos, next)
			}
			page, n, err := s.ListEvents(EventFilter{Hook: "rare", Before: next})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, evIDs(page)...)
			if n == "" {
				break
			}
			next = n
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("rare at %d of %d (a call looks at %d): listed %v; want [%s]", pos, total, bound, got, want)
		}
	}
}

func evIDs(evs []*EventView) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// TestStore_PackedLeaves: the buckets whose keys arrive in order fill
// their leaves (packedBuckets); with bbolt's default split they would be
// about half full. A packed leaf splits into a full one and a small one, so
// records that grow in place could leave a trail of small leaves: after
// every job of eight interleaved queues has run and grown by a long
// reason, the jobs' leaves must still be half full.
func TestStore_PackedLeaves(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, each, keys = 16, 80, 8
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				nj := job("a")
				nj.Key = fmt.Sprint("k", (w*each+i)%keys)
				nj.Concurrency = 4
				if _, err := s.Ingest(ctx, newEvent("h", fmt.Sprintf("%d-%d", w, i), nj)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fills := func(minFill float64, names ...[]byte) {
		t.Helper()
		pageSize := s.db.Info().PageSize
		err := s.db.View(func(tx *bolt.Tx) error {
			for _, name := range names {
				st := tx.Bucket(name).Stats()
				if st.LeafPageN < 4 {
					t.Errorf("bucket %s: %d leaf pages; the test needs a tree of a few", name, st.LeafPageN)
					continue
				}
				fill := float64(st.LeafInuse) / float64(st.LeafPageN*pageSize)
				t.Logf("bucket %s: %d keys, %d leaf pages, %.0f%% full", name, st.KeyN, st.LeafPageN, 100*fill)
				if fill < minFill {
					t.Errorf("bucket %s: leaves %.0f%% full; want at least %.0f%%", name, 100*fill, 100*minFill)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fills(0.8, packedBuckets...)

	reason := strings.Repeat("the command failed and will not be retried; ", 3)
	done := 0
	for done < writers*each {
		due, _, err := s.Due("h", "a", time.Now(), 64)
		if err != nil || len(due) == 0 {
			t.Fatalf("Due = %d jobs, %v after %d finished", len(due), err, done)
		}
		ids := make([]string, len(due))
		for i, d := range due {
			ids[i] = d.JobID
		}
		started, err := s.Start(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range started {
			now := time.Now()
			out := Outcome{State: Dead, Reason: reason, Concurrency: 4, Run: Run{Started: now, Finished: now, Result: RunFailed}}
			if _, err := s.Finish(ctx, j.ID, out); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	// bbolt's own split leaves these jobs 58% full; runs and queue
	// entries, packed, ended 40% and 21% full.
	fills(0.5, bJobs)
}

// TestStore_StartNotDue: Start leaves out a job whose retry is not due
// yet, as happens when the scheduler read it as due, and before its Start
// applied, another start ran it and it failed again.
func TestStore_StartNotDue(t *testing.T) {
	now := time.Now()
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	res, err := s.Ingest(ctx, newEvent("h", "d", job("a")))
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := s.GetEvent(res.ID, false)
	id := ev.JobIDs[0]
	if started, err := s.Start(ctx, id); err != nil || len(started) != 1 {
		t.Fatalf("Start = %d jobs, %v; want 1", len(started), err)
	}
	out := Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 1, Run: Run{Started: now, Finished: now, Result: RunFailed}}
	if _, err := s.Finish(ctx, id, out); err != nil {
		t.Fatal(err)
	}
	if started, err := s.Start(ctx, id); err != nil || len(started) != 0 {
		t.Fatalf("Start of a job due in an hour = %d jobs, %v; want none", len(started), err)
	}
	if j, _ := s.GetJob(id); j.State != Failed || j.Attempts != 1 {
		t.Errorf("job after the refused start: %s, %d attempts; want failed, 1", j.State, j.Attempts)
	}
	now = now.Add(time.Hour)
	if started, err := s.Start(ctx, id); err != nil || len(started) != 1 {
		t.Errorf("Start once due = %d jobs, %v; want 1", len(started), err)
	}
}

// TestStore_PruneFutureEvent: an event received while the clock was ahead
// (its time in the future, its id before the events after it) does not
// stop retention from deleting the old events behind it.
func TestStore_PruneFutureEvent(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	now := t0.AddDate(1, 0, 0) // a year ahead, for one event
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	ingestAt := func(at time.Time) string {
		ev := newEvent("h", "", NewJob{Action: "a", Skip: "finished"})
		ev.Received = at
		res, err := s.Ingest(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	ahead := ingestAt(now)
	now = t0
	var later []string
	for range 10 {
		later = append(later, ingestAt(now))
	}
	now = t0.Add(60 * 24 * time.Hour)
	n, err := s.Prune(ctx, now.Add(-30*24*time.Hour))
	if err != nil || n != 10 {
		t.Errorf("Prune = %d, %v; want the 10 events of 60 days ago", n, err)
	}
	for _, id := range later {
		if _, err := s.GetEvent(id, false); err == nil {
			t.Errorf("event %s of 60 days ago kept", id)
		}
	}
	if _, err := s.GetEvent(ahead, false); err != nil {
		t.Errorf("the event received a year ahead: %v; want kept until its time", err)
	}
}

// TestStore_RecordLostStarts: a queued job a killed daemon was running as
// its next attempt gets that attempt and its cut-off run; a run whose
// attempt the job already counts (Open found it running and recorded it,
// or a start before recorded it), a finished job and an unknown id are
// left alone, also when a run is given twice or again at a later start.
func TestStore_RecordLostStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lost.db")
	s, err := Open(path, Options{crashAtClose: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for _, d := range []string{"queued", "running", "done"} {
		res, err := s.Ingest(ctx, newEvent("h", d, NewJob{Action: d, Concurrency: 1}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids = append(ids, ev.JobIDs[0])
	}
	if _, err := s.Start(ctx, ids[1], ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, ids[2], Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	lost := []LostStart{{ids[0], math.MaxInt}, {ids[0], 1}, {ids[0], 1}, {ids[1], 1}, {ids[2], 1}, {"06H4XZZZZZZZZZZZ", 1}}
	for round := range 2 { // a start that dies before removing the files: the next sees them again
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cut, err := s.RecordLostStarts(ctx, lost)
		n := len(cut)
		want := 1
		if round == 1 {
			want = 0
		}
		if err != nil || n != want {
			t.Fatalf("round %d: RecordLostStarts = %d, %v; want %d", round, n, err, want)
		}
		for i := range ids {
			j, _ := s.GetJob(ids[i])
			runs, _ := s.Runs(ids[i])
			if j.Attempts != 1 || len(runs) != 1 {
				t.Errorf("round %d, job %d (%s): %d attempts, %d runs; want 1 and 1", round, i, j.State, j.Attempts, len(runs))
			}
		}
		s.Close()
	}
}

// Refill brings a queue's window to the action's concurrency after a
// reload, down as well as up, for the default queue (key "") too.
func TestStore_RefillBothWays(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	for range 5 {
		if _, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Concurrency: 3})); err != nil {
			t.Fatal(err)
		}
	}
	due := func() int {
		t.Helper()
		d, _, err := s.Due("h", "a", time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("check: %v", err)
		}
		return len(d)
	}
	if n := due(); n != 3 {
		t.Fatalf("due at concurrency 3 = %d", n)
	}
	for _, c := range []int{1, 4, 2, 5} {
		if err := s.Refill(ctx, "h", "a", func() int { return c }); err != nil {
			t.Fatal(err)
		}
		if n := due(); n != c {
			t.Errorf("due after a refill to concurrency %d = %d; want %d", c, n, c)
		}
	}
}

// After a reload lowered the concurrency below the runs under way, a run
// past the new window that ends failed waits behind the window: with
// concurrency 1, a newer job's retry never runs before the older job's.
func TestStore_ShrinkRunsPastWindowWait(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	var ids []string
	for range 3 {
		res, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Key: "k", Concurrency: 2}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids = append(ids, ev.JobIDs[0])
	}
	if st, err := s.Start(ctx, ids[0], ids[1]); err != nil || len(st) != 2 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil { // the reload: concurrency 1
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.Finish(ctx, ids[0], Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, ids[1], Outcome{State: Failed, NextAt: now.Add(time.Minute), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("h", "a", now.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 0 {
		t.Errorf("concurrency-1 queue, its oldest job %s retrying in an hour: Due in 2 min = %v; want none (the newer job waits behind the older)", ids[0], dueIDs(due))
	}
}

// After a reload lowered concurrency 3 -> 1 while three ran (X and Y then
// failed, waiting for retries; A still running), a crash puts A back in its
// queue: the start's resize must leave it waiting behind Y, not due.
func TestStore_CrashAfterShrinkKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(path, Options{Now: clock, crashAtClose: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string // X, Y, A
	for range 3 {
		res, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Concurrency: 3}))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids = append(ids, ev.JobIDs[0])
	}
	if st, err := s.Start(ctx, ids...); err != nil || len(st) != 3 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	for _, id := range ids[:2] { // X and Y fail, retry in an hour
		if _, err := s.Finish(ctx, id, Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 3}); err != nil {
			t.Fatal(err)
		}
	}
	// The reload: concurrency 1. Y goes back to waiting; A runs on.
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	s.Close() // a crash: A left running
	s, err = Open(path, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The scheduler's start: resize to the config's concurrency, 1.
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("h", "a", now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 0 {
		t.Errorf("concurrency 1, X=%s awaiting its retry, Y=%s waiting: Due = %v; want none (A=%s must not run before Y, nor beside X)", ids[0], ids[1], dueIDs(due), ids[2])
	}
}

// TestStore_CrashThenLowerConcurrency: concurrency 2, A running, B failed
// and waiting for its retry, C waiting; a crash, and concurrency 1 at the
// next start. A comes back waiting in its place, ahead of B: the start's
// resize must leave one job in the window, A, and B waiting behind it (not
// B due beside A, and its retry run first).
func TestStore_CrashThenLowerConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(path, Options{Now: clock, crashAtClose: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string // A, B, C
	for range 3 {
		_, id := queued(t, s, NewJob{Action: "a", Concurrency: 2})
		ids = append(ids, id)
	}
	if st, err := s.Start(ctx, ids[:2]...); err != nil || len(st) != 2 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	if _, err := s.Finish(ctx, ids[1], Outcome{State: Failed, NextAt: now.Add(time.Minute), Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	s.Close() // a crash: A left running
	s, err = Open(path, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("h", "a", now.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(due); fmt.Sprint(got) != fmt.Sprint(ids[:1]) {
		t.Errorf("concurrency 1 after the crash: Due = %v; want only A=%s (B=%s waits behind it)", got, ids[0], ids[1])
	}
	if err := s.Check(); err != nil {
		t.Errorf("consistency check: %v", err)
	}
}

// A job cancelled while it waited, then retried, goes back to its place:
// it runs after the older job still waiting, not before it.
func TestStore_RetryCancelledWaitsItsTurn(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	var ids []string // A, B, C
	for range 3 {
		res, err := s.Ingest(ctx, newEvent("h", "", job("a")))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		ids = append(ids, ev.JobIDs[0])
	}
	if st, err := s.Start(ctx, ids[0]); err != nil || len(st) != 1 {
		t.Fatalf("Start = %d, %v", len(st), err)
	}
	if _, err := s.Cancel(ctx, ids[2], "test", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retry(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, ids[0], Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	due, _, _ := s.Due("h", "a", now.Add(time.Minute), 10)
	if len(due) != 0 {
		t.Errorf("concurrency 1, A=%s awaiting its retry, B=%s waiting: Due = %v; want none (C=%s runs after B)", ids[0], ids[1], dueIDs(due), ids[2])
	}
}

// Refill finds every key's queue of an action, and in as many steps as
// there are keys: past 256 of them (one read transaction's worth), and
// keys that extend one another ("a", "ab").
func TestStore_RefillManyKeys(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	keys := []string{"", "a", "ab", "a b"}
	for i := range 300 {
		keys = append(keys, fmt.Sprint("k", i))
	}
	for _, k := range keys {
		for range 2 {
			if _, err := s.Ingest(ctx, newEvent("h", "", NewJob{Action: "a", Key: k, Concurrency: 1})); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 2 }); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.Due("h", "a", time.Now().Add(time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2*len(keys) {
		t.Errorf("due after a refill to 2 = %d; want every job of the %d keys (%d)", len(due), len(keys), 2*len(keys))
	}
}

// TestStore_OpenCutShort: a database file cut short (a restore from an
// interrupted copy, a full disk) is refused with an error that says so,
// whatever its length: bbolt reads the pages its meta page names through
// its mmap, and past the file's end that is a fault, which must not kill
// the process.
func TestStore_OpenCutShort(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.db")
	s, err := Open(full, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := strings.Repeat("x", 4000)
	for i := range 300 {
		ne := newEvent("h", fmt.Sprint("d", i), job("a"))
		ne.Body = []byte(`{"b":"` + body + `"}`)
		if _, err := s.Ingest(ctx, ne); err != nil {
			t.Fatal(err)
		}
	}
	var size int64
	s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	s.Close()
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{8 << 10, 16 << 10, 64 << 10, size / 3, size / 2, size * 3 / 4, size - 4096} {
		p := filepath.Join(dir, fmt.Sprintf("cut-%d.db", n))
		if err := os.WriteFile(p, b[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open of the file cut to %d of its %d bytes succeeded; want it refused", n, size)
			continue
		}
		if !strings.Contains(err.Error(), "restore it from a backup") {
			t.Errorf("Open of the file cut to %d bytes = %v; want an error saying to restore it", n, err)
		}
	}
}

// TestStore_CoalesceReplaySameEventRunsNow: coalesce, concurrency 1. An
// event's deploy failed and waits an hour for its retry; the person fixes
// the cause and replays that same event. The replay is the newest run of
// the queue: the queued (failed) run of the same event is coalesced into
// it and the replay runs now, as before f8ee4f8. Now the old job stays in
// the window and the replay waits behind its retry, and then the event
// deploys twice.
func TestStore_CoalesceReplaySameEventRunsNow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	nj := NewJob{Action: "deploy", Concurrency: 1, Coalesce: true}
	evID, first := queued(t, s, nj)
	if _, err := s.Start(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, first, Outcome{State: Failed, NextAt: now.Add(time.Hour), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	added, err := s.AddJobs(ctx, evID, []NewJob{nj})
	if err != nil || len(added) != 1 {
		t.Fatalf("AddJobs = %v, %v", added, err)
	}
	due, _, _ := s.Due("h", "deploy", now.Add(time.Minute), 10)
	if got := dueIDs(due); len(got) != 1 || got[0] != added[0].ID {
		j, _ := s.GetJob(first)
		t.Errorf("replay of the event whose run awaits a retry in an hour: Due in a minute = %v; want the replay %s (the old job %s is %s)", got, added[0].ID, first, j.State)
	}
}

// TestStore_CoalesceRollbackBehindFailingNewer: coalesce, concurrency 1.
// Push 2 breaks the deploy: its job failed and retries in an hour (and
// again, backing off, until its retries are spent). The person rolls back
// by replaying push 1. Push 2's failed run is held back in the queue, not
// "a newer push waiting to deploy": the replay should run now (as it did
// before f8ee4f8), not wait behind every retry of the broken push and then
// run anyway.
func TestStore_CoalesceRollbackBehindFailingNewer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	nj := NewJob{Action: "deploy", Concurrency: 1, Coalesce: true}
	var evIDs, jobIDs []string
	for range 2 {
		evID, jobID := queued(t, s, nj)
		evIDs, jobIDs = append(evIDs, evID), append(jobIDs, jobID)
		if _, err := s.Start(ctx, jobID); err != nil {
			t.Fatal(err)
		}
		st := Succeeded
		if len(jobIDs) == 2 {
			st = Failed
		}
		if _, err := s.Finish(ctx, jobID, Outcome{State: st, NextAt: now.Add(time.Hour), Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
	}
	added, err := s.AddJobs(ctx, evIDs[0], []NewJob{nj}) // the rollback
	if err != nil || len(added) != 1 {
		t.Fatalf("AddJobs = %v, %v", added, err)
	}
	due, _, _ := s.Due("h", "deploy", now.Add(time.Minute), 10)
	if got := dueIDs(due); len(got) != 1 || got[0] != added[0].ID {
		j, _ := s.GetJob(jobIDs[1])
		t.Errorf("rollback replay of push 1 while push 2's deploy awaits a retry in an hour: Due in a minute = %v; want the replay %s (push 2's job is %s)", got, added[0].ID, j.State)
	}
	// README, Order and concurrency: the replay "skips one waiting for a
	// retry".
	if j, err := s.GetJob(jobIDs[1]); err != nil || j.State != Skipped || j.Reason != "superseded by event "+evIDs[0] {
		t.Errorf("push 2's job, waiting for its retry, after the replay of push 1: %+v, %v; want skipped, superseded by event %s", j, err, evIDs[0])
	}
}

// TestStore_QueuedActions lists the actions with jobs queued to run: a
// due job, and one that a stop cut off, which Open puts back waiting in
// its queue (out of the due index, until the scheduler resizes the queues
// of the actions the config has). An action whose only job runs, or whose
// jobs are all done, is not listed.
func TestStore_QueuedActions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ingest := func(action string) string {
		t.Helper()
		res, err := s.Ingest(ctx, newEvent("h", "", job(action)))
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(res.ID, false)
		return ev.JobIDs[0]
	}
	ingest("due")
	for _, a := range []string{"cut", "done"} {
		if _, err := s.Start(ctx, ingest(a)); err != nil {
			t.Fatal(err)
		}
	}
	done, _, _ := s.ListJobs(Running, "", 10)
	for _, j := range done {
		if j.Action == "done" {
			if _, err := s.Finish(ctx, j.ID, Outcome{Run: Run{Result: RunSucceeded}, State: Succeeded}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close() // "cut" was running: it goes back waiting
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Start(ctx, ingest("running")); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueuedActions()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"h/cut", "h/due"}
	if !slices.Equal(got, want) {
		t.Errorf("QueuedActions() = %q; want %q", got, want)
	}
}

// TestStore_RecoverCutOffInARow: a job whose run a crash cut off
// CutOffLimit times in a row (a script that kills webhookd, a box that
// loses power during it) is dead at the start that finds the last of
// them, with CutOffReason, and out of its queue, which the job behind it
// then has; before that, it goes back to its queue each time.
func TestStore_RecoverCutOffInARow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.Ingest(ctx, newEvent("h", "1", job("a")))
	second, _ := s.Ingest(ctx, newEvent("h", "2", job("a")))
	ev, _ := s.GetEvent(first.ID, false)
	id := ev.JobIDs[0]
	for i := 1; ; i++ {
		if started, err := s.Start(ctx, id); err != nil || len(started) != 1 {
			t.Fatalf("start %d: %d started, %v", i, len(started), err)
		}
		s.Close() // as a crash leaves it: running
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		j, _ := s.GetJob(id)
		if i < CutOffLimit {
			if j.State != Pending {
				t.Fatalf("after %d runs cut off in a row, job = %s (%s); want pending", i, j.State, j.Reason)
			}
			if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if j.State != Dead || j.Reason != CutOffReason {
			t.Errorf("after %d runs cut off in a row, job = %s (%q); want dead, %q", i, j.State, j.Reason, CutOffReason)
		}
		break
	}
	defer s.Close()
	dead, _ := s.GetJob(id)
	if n, err := s.CutInARow(dead); err != nil || n != CutOffLimit {
		t.Errorf("CutInARow = %d, %v; want %d", n, err, CutOffLimit)
	}
	if err := s.Refill(ctx, "h", "a", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	ev2, _ := s.GetEvent(second.ID, false)
	due, _, _ := s.Due("h", "a", time.Now().Add(time.Second), 10)
	if len(due) != 1 || due[0].JobID != ev2.JobIDs[0] {
		t.Errorf("Due = %v; want the job behind the dead one", due)
	}
	// A person retries it: the count starts again.
	retried, err := s.Retry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.CutInARow(retried); err != nil || n != 0 {
		t.Errorf("CutInARow after a retry by hand = %d, %v; want 0", n, err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("consistency check: %v", err)
	}
}
