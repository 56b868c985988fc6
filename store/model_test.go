package store

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var modelSeed = flag.Uint64("model.seed", 0, "seed for TestModel (0: random)")

// modelJob is what the model knows of a job.
type modelJob struct {
	id, ev, hook, action, key string
	state                     State
	conc                      int
	forced                    bool        // put back in its window by a person (Retry of a finished job)
	requeued                  time.Time   // when that Retry was
	started                   time.Time   // when its last run started
	cuts                      []time.Time // the start of each run in a row a restart cut off
}

// cutOff is what a restart does to a job it finds running: its run is cut
// off, and after CutOffLimit in a row since a person last put it back in
// its queue, it is dead (store.go, recover).
func (j *modelJob) cutOff() {
	j.cuts = append(j.cuts, j.started)
	n := 0
	for i := len(j.cuts) - 1; i >= 0 && !j.cuts[i].Before(j.requeued); i-- {
		n++
	}
	j.state = Pending
	if n >= CutOffLimit {
		j.state = Dead
	}
}

func (j *modelJob) queue() string { return j.hook + "/" + j.action + "/" + j.key }

// TestModel drives the store with random sequences of enqueue, start,
// finish (succeed, fail with a retry, die, be interrupted), cancel, retry,
// replay and crash-restart, and checks it against an in-memory model after
// every step: each job's state, the counters, the state index (listing by
// state), queue membership, the due index (a full window per queue, in
// arrival order) and, at the end, bbolt's consistency check. A failure
// prints the seed; rerun it with go test ./store -run TestModel
// -model.seed=N.
func TestModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	runs := 8
	if testing.Short() {
		runs = 3
	}
	for i := 0; i < runs; i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Parallel() // each run has its own file, clock and random source
			defer func() {
				if t.Failed() {
					t.Logf("reproduce with: go test ./store -run TestModel -model.seed=%d", s)
				}
			}()
			runModel(t, s, 250)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "model.db")
	s, err := Open(path, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()

	jobs := map[string]*modelJob{}
	var order []string // job ids in creation order
	// Two actions, one with concurrency 1, one with 2; keys a and b.
	type actionSpec struct {
		name     string
		conc     int
		coalesce bool
	}
	specs := []actionSpec{{"one", 1, false}, {"two", 2, false}, {"co", 1, true}}
	var events []string

	add := func(evID string, created []*Job, nj []NewJob) {
		for i, j := range created {
			mj := &modelJob{id: j.ID, ev: evID, hook: "h", action: nj[i].Action, key: nj[i].Key, state: j.State, conc: nj[i].Concurrency}
			if nj[i].Coalesce && nj[i].Skip == "" {
				// Queued (not running) jobs before it in its queue are
				// skipped, but for newer events' pending ones.
				for _, id := range order {
					o := jobs[id]
					if o.queue() == mj.queue() && (o.state == Pending && o.ev <= evID || o.state == Failed) {
						o.state = Skipped
					}
				}
			}
			jobs[j.ID] = mj
			order = append(order, j.ID)
		}
	}
	randomJobs := func() []NewJob {
		var nj []NewJob
		for _, sp := range specs {
			if rng.IntN(4) == 0 {
				continue
			}
			n := NewJob{Action: sp.name, Key: []string{"a", "b"}[rng.IntN(2)], Concurrency: sp.conc, Coalesce: sp.coalesce}
			if rng.IntN(10) == 0 {
				n.Skip = "when is false"
			}
			nj = append(nj, n)
		}
		return nj
	}
	inState := func(states ...State) []*modelJob {
		var out []*modelJob
		for _, id := range order {
			for _, st := range states {
				if jobs[id].state == st {
					out = append(out, jobs[id])
				}
			}
		}
		return out
	}
	pick := func(js []*modelJob) *modelJob { return js[rng.IntN(len(js))] }
	// olderUnfinished reports whether an older job of j's queue is not
	// finished: one j may wait behind.
	olderUnfinished := func(j *modelJob) bool {
		for _, o := range inState(Pending, Failed, Running) {
			if o.queue() == j.queue() && o.id < j.id {
				return true
			}
		}
		return false
	}

	for step := 0; step < steps; step++ {
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		op := rng.IntN(100)
		var desc string
		switch {
		case op < 25: // ingest
			nj := randomJobs()
			res, err := s.Ingest(ctx, &NewEvent{Hook: "h", Type: "push", Received: now, Body: []byte("{}"), Jobs: nj})
			if err != nil {
				t.Fatal(err)
			}
			ev, _ := s.GetEvent(res.ID, false)
			created, _ := s.Jobs(ev)
			for i := range nj {
				if nj[i].Skip == "" {
					created[i].State = Pending
				}
			}
			// Compare states below; record the model's view.
			add(res.ID, created, nj)
			events = append(events, res.ID)
			desc = fmt.Sprintf("ingest %d jobs", len(nj))
		case op < 50: // start what is due
			var ids []string
			for _, sp := range specs {
				due, _, err := s.Due("h", sp.name, now, 100)
				if err != nil {
					t.Fatal(err)
				}
				running := map[string]int{}
				for _, j := range inState(Running) {
					running[j.queue()]++
				}
				for _, d := range due {
					mj := jobs[d.JobID]
					if mj == nil {
						t.Fatalf("step %d: due job %s unknown to the model", step, d.JobID)
					}
					if running[mj.queue()] < mj.conc {
						running[mj.queue()]++
						ids = append(ids, d.JobID)
					}
				}
			}
			started, err := s.Start(ctx, ids...)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range started {
				jobs[j.ID].state = Running
				jobs[j.ID].started = now
			}
			desc = fmt.Sprintf("start %d", len(started))
		case op < 75: // finish a running job
			rs := inState(Running)
			if len(rs) == 0 {
				continue
			}
			j := pick(rs)
			outs := []State{Succeeded, Failed, Dead, Pending, Cancelled}
			next := outs[rng.IntN(len(outs))]
			out := Outcome{State: next, Concurrency: j.conc, Run: Run{Result: RunFailed}}
			if next == Failed {
				out.NextAt = now.Add(time.Duration(rng.IntN(5)) * time.Second)
			}
			if _, err := s.Finish(ctx, j.id, out); err != nil {
				t.Fatalf("step %d: Finish(%s, %s): %v", step, j.id, next, err)
			}
			j.state = next
			j.cuts = nil // a run that ended
			desc = "finish " + j.id + " as " + string(next)
		case op < 82: // cancel a queued job
			qs := inState(Pending, Failed)
			if len(qs) == 0 {
				continue
			}
			j := pick(qs)
			if _, err := s.Cancel(ctx, j.id, "test", j.conc); err != nil {
				t.Fatalf("step %d: Cancel: %v", step, err)
			}
			j.state = Cancelled
			desc = "cancel " + j.id
		case op < 88: // retry a failed job now
			fs := inState(Failed)
			if len(fs) == 0 {
				continue
			}
			j := pick(fs)
			if _, err := s.Retry(ctx, j.id); err != nil {
				// A failed job behind an older one that a person put back
				// in the window waits for it, and retry says so.
				if errors.Is(err, ErrState) && olderUnfinished(j) {
					desc = "retry refused, waits: " + j.id
					break
				}
				t.Fatalf("step %d: Retry: %v", step, err)
			}
			j.state = Pending
			desc = "retry " + j.id
		case op < 90: // retry a dead, cancelled or skipped job
			fs := inState(Dead, Cancelled, Skipped)
			if len(fs) == 0 {
				continue
			}
			j := pick(fs)
			if _, err := s.Retry(ctx, j.id); err != nil {
				t.Fatalf("step %d: Retry: %v", step, err)
			}
			j.state = Pending
			j.forced = true
			j.requeued = now
			desc = "retry finished " + j.id
		case op < 94: // replay an event
			if len(events) == 0 {
				continue
			}
			ev := events[rng.IntN(len(events))]
			nj := randomJobs()
			created, err := s.AddJobs(ctx, ev, nj)
			if err != nil {
				t.Fatal(err)
			}
			for i := range nj {
				if nj[i].Skip == "" {
					created[i].State = Pending
				}
			}
			add(ev, created, nj)
			desc = "replay"
		default: // crash and restart: running jobs go back to pending
			s.Close()
			s, err = Open(path, Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range inState(Running) {
				j.cutOff()
			}
			// As the scheduler's start does: each queue's window to the
			// action's concurrency (the interrupted jobs came back
			// waiting, in their places).
			for _, sp := range specs {
				if err := s.Refill(ctx, "h", sp.name, func() int { return sp.conc }); err != nil {
					t.Fatal(err)
				}
			}
			desc = "restart"
		}
		checkModel(t, step, desc, s, jobs, order)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
}

// checkModel compares the store with the model.
func checkModel(t *testing.T, step int, desc string, s *Store, jobs map[string]*modelJob, order []string) {
	t.Helper()
	counts := map[State]int64{}
	for _, id := range order {
		mj := jobs[id]
		counts[mj.state]++
		j, err := s.GetJob(id)
		if err != nil {
			t.Fatalf("step %d (%s): job %s: %v", step, desc, id, err)
		}
		if j.State != mj.state {
			t.Fatalf("step %d (%s): job %s is %s; the model says %s", step, desc, id, j.State, mj.state)
		}
	}
	st, _ := s.Stats()
	for _, state := range States {
		if st.Jobs[state] != counts[state] {
			t.Fatalf("step %d (%s): count %s = %d; the model says %d", step, desc, state, st.Jobs[state], counts[state])
		}
	}
	// The state index: listing a state, a few at a time, gives the model's
	// jobs in that state, oldest first; the oldest queued job is the
	// pending or failed one that has waited longest, since its creation or
	// since a retry put it back (the first of those that tie).
	want := map[State][]string{}
	for _, id := range order {
		want[jobs[id].state] = append(want[jobs[id].state], id)
	}
	oldest, oldestSince := "", time.Time{}
	for _, state := range States {
		ids := want[state]
		sort.Strings(ids)
		if state != Pending && state != Failed {
			continue
		}
		for _, id := range ids {
			since := IDTime(id)
			if jobs[id].requeued.After(since) {
				since = jobs[id].requeued
			}
			if oldest == "" || since.Before(oldestSince) || since.Equal(oldestSince) && id < oldest {
				oldest, oldestSince = id, since
			}
		}
	}
	for _, state := range States {
		ids := want[state]
		var got []string
		for after, pages := "", 0; ; pages++ {
			list, next, err := s.ListJobs(state, after, 3)
			if err != nil {
				t.Fatalf("step %d (%s): ListJobs(%s): %v", step, desc, state, err)
			}
			for _, j := range list {
				got = append(got, j.ID)
			}
			if next == "" || pages > len(order) {
				break
			}
			after = next
		}
		if fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Fatalf("step %d (%s): ListJobs(%s) = %v; the model says %v", step, desc, state, got, ids)
		}
	}
	if st.OldestQueue != oldest {
		t.Fatalf("step %d (%s): the oldest queued job is %q; the model says %q", step, desc, st.OldestQueue, oldest)
	}
	// Queue membership, due entries and windows.
	err := s.db.View(func(tx *bolt.Tx) error {
		inQueue := map[string]byte{}
		c := tx.Bucket(bQueue).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			inQueue[string(k[len(k)-idLen:])] = v[0]
		}
		due := map[string]bool{}
		tx.Bucket(bDue).ForEach(func(name, _ []byte) error {
			b := tx.Bucket(bDue).Bucket(name)
			return b.ForEach(func(k, _ []byte) error {
				id := string(k[8:])
				due[id] = true
				j, err := getJob(tx, id)
				if err != nil {
					return err
				}
				if binary.BigEndian.Uint64(k[:8]) != uint64(j.NextAt.UnixNano()) {
					t.Errorf("step %d (%s): due key of %s is not its next_at", step, desc, id)
				}
				return nil
			})
		})
		if err := checkQueueRuns(tx); err != nil {
			t.Fatalf("step %d (%s): %v", step, desc, err)
		}
		queues := map[string][]*modelJob{}
		for _, id := range order {
			mj := jobs[id]
			unfinished := !mj.state.Finished()
			flag, queued := inQueue[id]
			switch {
			case unfinished && !queued:
				t.Fatalf("step %d (%s): unfinished job %s (%s) is not in its queue", step, desc, id, mj.state)
			case !unfinished && queued:
				t.Fatalf("step %d (%s): finished job %s (%s) is still queued", step, desc, id, mj.state)
			case mj.state == Running && flag != qRunning:
				t.Fatalf("step %d (%s): running job %s has queue flag %c", step, desc, id, flag)
			case mj.state != Running && due[id] != (queued && flag == qDue):
				t.Fatalf("step %d (%s): job %s flag %c, in due index %v", step, desc, id, flag, due[id])
			}
			if unfinished {
				queues[mj.queue()] = append(queues[mj.queue()], mj)
			}
		}
		for q, js := range queues {
			sort.Slice(js, func(a, b int) bool { return js[a].id < js[b].id })
			conc := js[0].conc
			window, forced := 0, 0
			entries := make([]windowEntry, len(js))
			for i, mj := range js {
				inWindow := mj.state == Running || due[mj.id]
				if inWindow {
					window++
					if mj.forced {
						forced++
					}
				}
				entries[i] = windowEntry{id: mj.id, running: mj.state == Running, due: due[mj.id], forced: mj.forced}
			}
			// The window is the running jobs and the oldest of the others.
			if err := checkWindow(conc, entries); err != nil {
				t.Fatalf("step %d (%s): queue %s, concurrency %d: %v", step, desc, q, conc, err)
			}
			if window-forced > conc {
				t.Fatalf("step %d (%s): queue %s has %d jobs in a window of %d", step, desc, q, window, conc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
