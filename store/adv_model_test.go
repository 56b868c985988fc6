package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestAdvModel drives the store through random sequences — concurrent
// ingests with new, repeated and absent delivery ids, keys, coalesce, skip
// and fail jobs; starts, finishes of every outcome (early starts too),
// cancels, retries and replays; pruning by age and by size; clock steps
// both ways; restarts, most of them crashes with dedup entries unmerged;
// commits that fail — and after every step checks the store against a
// model and its own invariants (see runAdv). Each run has a seed, logged
// when it fails. CI runs a few; for a longer search:
//
//	go test ./store -run TestAdvModel -adv.runs 200 -adv.steps 500
var (
	advSeed  = flag.Uint64("adv.seed", 0, "seed for TestAdvModel (0: a random one)")
	advRuns  = flag.Int("adv.runs", 4, "runs for TestAdvModel")
	advSteps = flag.Int("adv.steps", 300, "steps for TestAdvModel")
)

type advJob struct {
	id, ev, hook, action, key string
	conc                      int
	state                     State
	forced                    bool
	// As modelJob's: when a person last put it back in its queue, when
	// its last run started, and the runs in a row restarts cut off.
	requeued, started time.Time
	cuts              []time.Time
}

// cutOff is modelJob.cutOff.
func (j *advJob) cutOff() {
	m := modelJob{requeued: j.requeued, started: j.started, cuts: j.cuts}
	m.cutOff()
	j.state, j.cuts = m.state, m.cuts
}

func (j *advJob) queue() string { return j.hook + "/" + j.action + "/" + j.key }

type advEvent struct {
	id, hook, delivery string
	received           time.Time
}

func TestAdvModel(t *testing.T) {
	seed := *advSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	runs := *advRuns
	if raceOn && !flagSet("adv.runs") {
		runs = 1
	}
	for i := 0; i < runs; i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Parallel() // each run has its own file, clock and random sources
			defer func() {
				if t.Failed() {
					t.Logf("reproduce: -run TestAdvModel -adv.seed=%d -adv.runs=1", s)
				}
			}()
			runAdv(t, s, *advSteps)
		})
	}
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func runAdv(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x1234567))
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	path := filepath.Join(t.TempDir(), "adv.db")
	idle := []time.Duration{-1, time.Millisecond, 0}[rng.IntN(3)]
	var fmu sync.Mutex
	failP := 0.0
	frng := rand.New(rand.NewPCG(seed, 99))
	failWrites := func() error {
		fmu.Lock()
		defer fmu.Unlock()
		if failP > 0 && frng.Float64() < failP {
			return fmt.Errorf("injected")
		}
		return nil
	}
	setFail := func(p float64) { fmu.Lock(); failP = p; fmu.Unlock() }
	opts := func(crash bool) Options {
		return Options{Now: clock, FailWrites: failWrites, dedupMergeAt: 1 + rng.IntN(8), dedupMergeMin: 1 + rng.IntN(3), dedupIdle: idle,
			crashAtClose: crash, maxScan: 1 + rng.IntN(6), pruneScan: 1 + rng.IntN(6)}
	}
	s, err := Open(path, opts(false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()

	jobs := map[string]*advJob{}
	resized := false // a reload changed a concurrency: windows may hold more runs
	events := map[string]*advEvent{}
	dedup := map[string]string{} // hook\0delivery -> event
	type spec struct {
		name     string
		conc     int
		coalesce bool
	}
	specs := []spec{{"one", 1, false}, {"two", 2, false}, {"co", 1, true}}
	hooks := []string{"h", "g"}
	// With live, the store is told each action's concurrency as each
	// commit is written (SetWindowSize, as the scheduler does), and the
	// sizes the steps pass are often stale: planned before a reload, and
	// written after it. Without, they are the current ones.
	live := rng.IntN(2) == 0
	var cmu sync.Mutex // specs' concurrency, read by the commit loop
	concOf := func(action string) int {
		cmu.Lock()
		defer cmu.Unlock()
		for _, sp := range specs {
			if sp.name == action {
				return sp.conc
			}
		}
		return 0
	}
	stale := func(c int) int {
		if live && rng.IntN(2) == 0 {
			return 1 + rng.IntN(3)
		}
		return c
	}
	tell := func(s *Store) {
		if live {
			s.SetWindowSize(func(_, action string) int { return concOf(action) })
		}
	}
	tell(s)

	inState := func(sts ...State) []*advJob {
		var out []*advJob
		ids := make([]string, 0, len(jobs))
		for id := range jobs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			for _, st := range sts {
				if jobs[id].state == st {
					out = append(out, jobs[id])
				}
			}
		}
		return out
	}
	olderUnfinished := func(j *advJob) bool {
		for _, o := range inState(Pending, Failed, Running) {
			if o.queue() == j.queue() && o.id < j.id {
				return true
			}
		}
		return false
	}
	randomJobs := func() []NewJob {
		var nj []NewJob
		for _, sp := range specs {
			if rng.IntN(3) == 0 {
				continue
			}
			n := NewJob{Action: sp.name, Key: []string{"a", "b"}[rng.IntN(2)], Concurrency: stale(sp.conc), Coalesce: sp.coalesce}
			switch rng.IntN(12) {
			case 0:
				n.Skip = "no"
			case 1:
				n.Fail = "bad key"
			}
			nj = append(nj, n)
		}
		return nj
	}
	// addJobs applies created jobs to the model (in commit order).
	addJobs := func(evID, hook string, created []*Job, nj []NewJob) {
		for i, j := range created {
			mj := &advJob{id: j.ID, ev: evID, hook: hook, action: nj[i].Action, key: nj[i].Key, conc: concOf(nj[i].Action)}
			switch {
			case nj[i].Skip != "":
				mj.state = Skipped
			case nj[i].Fail != "":
				mj.state = Dead
			default:
				mj.state = Pending
				if nj[i].Coalesce {
					for _, o := range jobs {
						// A replay of an older event leaves newer events'
						// pending jobs queued.
						if o.queue() == mj.queue() && (o.state == Pending && o.ev <= evID || o.state == Failed) {
							o.state = Skipped
						}
					}
				}
			}
			jobs[j.ID] = mj
		}
	}
	// checkOrder: a conc-1 queue starts its oldest unfinished job.
	checkOrder := func(step int, started []*Job) {
		for _, j := range started {
			mj := jobs[j.ID]
			if mj.conc != 1 {
				continue
			}
			forced := false
			oldest := ""
			for _, o := range jobs {
				if o.queue() != mj.queue() || o.state.Finished() {
					continue
				}
				if o.forced {
					forced = true
				}
				if oldest == "" || o.id < oldest {
					oldest = o.id
				}
			}
			if !forced && oldest != j.ID {
				t.Fatalf("step %d: conc-1 queue %s started %s before older unfinished %s (%s)", step, mj.queue(), j.ID, oldest, jobs[oldest].state)
			}
		}
	}

	// checkStarts: a start never brings a queue's runs past its
	// concurrency (a person's retries aside), whatever the reloads did.
	checkStarts := func(step int, started []*Job) {
		for _, j := range started {
			mj := jobs[j.ID]
			if mj.forced {
				continue
			}
			n := 0
			for _, o := range jobs {
				if o.queue() == mj.queue() && o.state == Running && !o.forced {
					n++
				}
			}
			if n > mj.conc {
				t.Fatalf("step %d: started %s: queue %s runs %d jobs, concurrency %d", step, j.ID, mj.queue(), n, mj.conc)
			}
		}
	}
	// runsIn reports whether a job of queue q runs.
	runsIn := func(q string) bool {
		for _, o := range jobs {
			if o.queue() == q && o.state == Running {
				return true
			}
		}
		return false
	}

	var log []string
	for step := 0; step < steps; step++ {
		// Clock: mostly forward, sometimes back.
		switch r := rng.IntN(20); {
		case r == 0:
			setNow(clock().Add(-time.Duration(rng.IntN(120)) * time.Second))
		case r == 1:
			setNow(clock().Add(time.Duration(rng.IntN(3600)) * time.Second))
		default:
			setNow(clock().Add(time.Duration(rng.IntN(3000)) * time.Millisecond))
		}
		if rng.IntN(4) == 0 {
			setFail(0.3)
		} else {
			setFail(0)
		}
		op := rng.IntN(100)
		desc := ""
		switch {
		case op < 25: // concurrent ingests
			n := 1 + rng.IntN(5)
			type req struct {
				ne *NewEvent
				nj []NewJob
			}
			reqs := make([]req, n)
			for i := range reqs {
				nj := randomJobs()
				d := ""
				if rng.IntN(5) != 0 {
					d = fmt.Sprint("d", rng.IntN(20))
				}
				reqs[i] = req{&NewEvent{Hook: hooks[rng.IntN(2)], Type: "push", Delivery: d, Received: clock(), Body: bytes.Repeat([]byte("x"), rng.IntN(3000)), Jobs: nj}, nj}
			}
			res := make([]IngestResult, n)
			var wg sync.WaitGroup
			for i := range reqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := s.Ingest(ctx, reqs[i].ne)
					if err != nil && !IsWriteError(err) {
						t.Error(err)
					}
					if err != nil {
						r = IngestResult{ID: "~failed"}
					}
					res[i] = r
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			sort.Slice(idx, func(a, b int) bool { return res[idx[a]].ID < res[idx[b]].ID })
			// new events in commit (id) order
			for _, i := range idx {
				r, q := res[i], reqs[i]
				k := q.ne.Hook + "\x00" + q.ne.Delivery
				if r.ID == "~failed" {
					continue
				}
				if r.Duplicate {
					if q.ne.Delivery == "" {
						t.Fatalf("step %d: no delivery id, but duplicate %+v", step, r)
					}
					continue
				}
				if q.ne.Delivery != "" {
					if old, ok := dedup[k]; ok {
						t.Fatalf("step %d: delivery %q stored again as %s; kept as %s", step, k, r.ID, old)
					}
					dedup[k] = r.ID
				}
				events[r.ID] = &advEvent{id: r.ID, hook: q.ne.Hook, delivery: q.ne.Delivery, received: q.ne.Received}
				ev, err := s.GetEvent(r.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				created, _ := s.Jobs(ev)
				addJobs(r.ID, q.ne.Hook, created, q.nj)
			}
			for i, r := range res {
				q := reqs[i]
				if r.ID != "~failed" && r.Duplicate {
					k := q.ne.Hook + "\x00" + q.ne.Delivery
					if dedup[k] != r.ID {
						t.Fatalf("step %d: %q answered duplicate of %s; the kept event is %q", step, k, r.ID, dedup[k])
					}
				}
			}
			desc = fmt.Sprint("ingest ", n)
		case op < 42: // start what is due
			var ids []string
			for _, h := range hooks {
				for _, sp := range specs {
					due, _, err := s.Due(h, sp.name, clock(), 100)
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
							t.Fatalf("step %d: due job %s unknown", step, d.JobID)
						}
						if running[mj.queue()] < mj.conc {
							running[mj.queue()]++
							ids = append(ids, d.JobID)
						}
					}
				}
			}
			started, err := s.Start(ctx, ids...)
			if IsWriteError(err) {
				desc = "start failed"
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOrder(step, started)
			for _, j := range started {
				jobs[j.ID].state = Running
				jobs[j.ID].started = clock()
			}
			checkStarts(step, started)
			desc = fmt.Sprint("start ", len(started))
		case op < 60: // finish (and maybe start the next)
			rs := inState(Running)
			if len(rs) == 0 {
				continue
			}
			j := rs[rng.IntN(len(rs))]
			outs := []State{Succeeded, Failed, Dead, Pending, Cancelled}
			next := outs[rng.IntN(len(outs))]
			out := Outcome{State: next, Concurrency: stale(j.conc), Run: Run{Result: RunFailed}}
			if next == Failed {
				out.NextAt = clock().Add(time.Duration(rng.IntN(5)-1) * time.Second)
			}
			max := rng.IntN(3)
			var fj *Job
			var started []*Job
			var err error
			if rng.IntN(2) == 0 {
				fj, started, err = s.FinishAndStart(ctx, j.id, out, max)
			} else {
				var durable <-chan error
				fj, started, durable, err = s.FinishAndStartEarly(ctx, j.id, out, max)
				if err == nil {
					err = <-durable
				}
			}
			if IsWriteError(err) {
				desc = "finish failed"
				break
			}
			if err != nil || fj == nil {
				t.Fatalf("step %d: FinishAndStart(%s, %s): %v", step, j.id, next, err)
			}
			j.state = next
			j.cuts = nil // a run that ended
			checkOrder(step, started)
			for _, sj := range started {
				jobs[sj.ID].state = Running
				jobs[sj.ID].started = clock()
			}
			checkStarts(step, started)
			desc = fmt.Sprintf("finish %s as %s, started %d", j.id, next, len(started))
		case op < 66: // cancel
			qs := inState(Pending, Failed)
			if len(qs) == 0 {
				continue
			}
			j := qs[rng.IntN(len(qs))]
			if _, err := s.Cancel(ctx, j.id, "test", stale(j.conc)); IsWriteError(err) {
				break
			} else if err != nil {
				t.Fatalf("step %d: Cancel: %v", step, err)
			}
			j.state = Cancelled
			desc = "cancel " + j.id
		case op < 72: // retry a failed job, or (op 70, 71) a finished one
			finished := op >= 70
			fs := inState(Failed)
			if finished {
				fs = inState(Dead, Cancelled, Skipped)
			}
			if len(fs) == 0 {
				continue
			}
			j := fs[rng.IntN(len(fs))]
			if _, err := s.Retry(ctx, j.id); IsWriteError(err) {
				break
			} else if errors.Is(err, ErrState) && !finished && (olderUnfinished(j) || runsIn(j.queue())) {
				// A failed job behind an older one that a person put
				// back in the window waits for it, and retry says so; so
				// does one that waits for the runs under way past a
				// window a reload made smaller.
				desc = "retry refused, waits: " + j.id
				break
			} else if err != nil {
				t.Fatalf("step %d: Retry: %v", step, err)
			}
			j.state = Pending
			j.forced = j.forced || finished
			if finished {
				j.requeued = clock()
			}
			desc = fmt.Sprint("retry ", j.id, " finished: ", finished)
		case op < 76: // replay
			if len(events) == 0 {
				continue
			}
			var evs []string
			for id := range events {
				evs = append(evs, id)
			}
			sort.Strings(evs)
			ev := events[evs[rng.IntN(len(evs))]]
			nj := randomJobs()
			created, err := s.AddJobs(ctx, ev.id, nj)
			if IsWriteError(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			addJobs(ev.id, ev.hook, created, nj)
			desc = "replay " + ev.id
		case op < 86: // prune by age or by size
			held := map[string]bool{}
			for _, j := range jobs {
				if !j.state.Finished() {
					held[j.ev] = true
				}
			}
			if rng.IntN(2) == 0 {
				cutoff := clock().Add(-time.Duration(rng.IntN(600)) * time.Second)
				if _, err := s.Prune(ctx, cutoff); err != nil && !IsWriteError(err) {
					t.Fatal(err)
				}
				desc = "prune age"
			} else {
				live, _ := s.LiveSize()
				if _, err := s.PruneToSize(ctx, live/2); err != nil && !IsWriteError(err) {
					t.Fatal(err)
				}
				desc = "prune size"
			}
			for id, ev := range events {
				if _, err := s.GetEvent(id, false); err == nil {
					continue
				}
				if held[id] {
					t.Fatalf("step %d (%s): event %s with unfinished jobs was pruned", step, desc, id)
				}
				delete(events, id)
				if ev.delivery != "" && dedup[ev.hook+"\x00"+ev.delivery] == id {
					delete(dedup, ev.hook+"\x00"+ev.delivery)
				}
				for jid, j := range jobs {
					if j.ev == id {
						delete(jobs, jid)
					}
				}
			}
		case op < 88: // a reload changes an action's concurrency
			i := rng.IntN(len(specs))
			c := 1 + rng.IntN(3)
			cmu.Lock()
			specs[i].conc = c
			cmu.Unlock()
			for _, j := range jobs {
				if j.action == specs[i].name {
					j.conc = c
				}
			}
			resized = true
			setFail(0) // the scheduler tries a failed resize again until it lands
			for _, h := range hooks {
				if err := s.Refill(ctx, h, specs[i].name, func() int { return c }); err != nil {
					t.Fatalf("step %d: Refill: %v", step, err)
				}
			}
			desc = fmt.Sprintf("concurrency of %s to %d", specs[i].name, c)
		case op < 90: // idle pause
			time.Sleep(3 * time.Millisecond)
			desc = "idle"
		default: // restart, crash or clean
			crash := rng.IntN(3) != 0
			s.opts.crashAtClose = crash
			setFail(0)
			s.Close()
			s, err = Open(path, opts(false))
			if err != nil {
				t.Fatal(err)
			}
			tell(s)
			for _, j := range inState(Running) {
				j.cutOff()
			}
			// As the scheduler's start does: the queues to the config's
			// concurrency (the runs under way came back due).
			for _, h := range hooks {
				for _, sp := range specs {
					if err := s.Refill(ctx, h, sp.name, func() int { return sp.conc }); err != nil {
						t.Fatalf("step %d: Refill at start: %v", step, err)
					}
				}
			}
			desc = fmt.Sprint("restart crash=", crash)
		}
		log = append(log, desc)
		setFail(0)
		advCheck(t, step, desc, s, jobs, events, dedup, resized)
	}
	setFail(0) // a last step that went on ("continue") left it set
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func advCheck(t *testing.T, step int, desc string, s *Store, jobs map[string]*advJob, events map[string]*advEvent, dedup map[string]string, resized bool) {
	t.Helper()
	fail := func(f string, a ...any) {
		t.Helper()
		t.Fatalf("step %d (%s): %s", step, desc, fmt.Sprintf(f, a...))
	}
	if err := s.Check(); err != nil {
		fail("check: %v", err)
	}
	type snap struct {
		bucket, memory map[string]string
	}
	got := make(chan snap, 1)
	err := s.update(context.Background(), false, func(tx *bolt.Tx) error {
		sn := snap{map[string]string{}, map[string]string{}}
		tx.Bucket(bDedup).ForEach(func(k, v []byte) error { sn.bucket[string(k)] = string(v); return nil })
		for k, v := range s.dd.live {
			sn.memory[k] = v
		}
		select {
		case got <- sn:
		default:
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	sn := <-got
	all := sn.bucket
	for k, v := range sn.memory {
		if o, ok := all[k]; ok && o != v {
			fail("dedup %q: bucket %s, memory %s", k, o, v)
		}
		all[k] = v
	}
	if len(all) != len(dedup) {
		fail("dedup holds %d entries (%v); model %d (%v)", len(all), all, len(dedup), dedup)
	}
	for k, v := range dedup {
		if all[k] != v {
			fail("dedup[%q] = %q; want %q", k, all[k], v)
		}
	}

	err = s.db.View(func(tx *bolt.Tx) error {
		// events
		nev := 0
		tx.Bucket(bEvents).ForEach(func(k, v []byte) error {
			nev++
			if events[string(k)] == nil {
				fail("event %s on disk, not in model", k)
			}
			ev := new(Event)
			json.Unmarshal(v, ev)
			for _, jid := range ev.JobIDs {
				if jobs[jid] == nil || jobs[jid].ev != ev.ID {
					fail("event %s lists job %s unknown to the model", ev.ID, jid)
				}
			}
			return nil
		})
		if nev != len(events) {
			fail("%d events on disk; model %d", nev, len(events))
		}
		if c := getCount(tx, eventsCount); c != int64(nev) {
			fail("events counter %d; %d events", c, nev)
		}
		if n := tx.Bucket(bRaw).Stats().KeyN; n != nev {
			fail("%d raw; %d events", n, nev)
		}
		// jobs, state index, counters
		counts := map[State]int64{}
		nj := 0
		tx.Bucket(bJobs).ForEach(func(k, v []byte) error {
			nj++
			j := new(Job)
			json.Unmarshal(v, j)
			mj := jobs[j.ID]
			if mj == nil {
				fail("job %s on disk, not in model", j.ID)
			}
			if mj.state != j.State {
				fail("job %s is %s; model says %s", j.ID, j.State, mj.state)
			}
			counts[j.State]++
			if tx.Bucket(bState).Get(stateKey(j.State, j.ID)) == nil {
				fail("job %s not in state index", j.ID)
			}
			return nil
		})
		if nj != len(jobs) {
			fail("%d jobs on disk; model %d", nj, len(jobs))
		}
		idx := map[State]int64{}
		tx.Bucket(bState).ForEach(func(k, _ []byte) error {
			i := bytes.IndexByte(k, 0)
			idx[State(k[:i])]++
			return nil
		})
		for _, st := range States {
			if getCount(tx, st) != counts[st] || idx[st] != counts[st] {
				fail("state %s: counter %d, index %d, jobs %d", st, getCount(tx, st), idx[st], counts[st])
			}
		}
		// queue and due
		flags := map[string]byte{}
		tx.Bucket(bQueue).ForEach(func(k, v []byte) error {
			id := string(k[len(k)-idLen:])
			if _, dup := flags[id]; dup {
				fail("job %s queued twice", id)
			}
			flags[id] = v[0]
			j, err := getJob(tx, id)
			if err != nil {
				fail("queue entry for missing job %s", id)
			}
			if !bytes.Equal(k, queueKey(j)) {
				fail("queue key of %s wrong", id)
			}
			return nil
		})
		dueN := map[string]int{}
		tx.Bucket(bDue).ForEach(func(name, _ []byte) error {
			return tx.Bucket(bDue).Bucket(name).ForEach(func(k, v []byte) error {
				id := string(k[8:])
				dueN[id]++
				j, err := getJob(tx, id)
				if err != nil {
					fail("due entry for missing job %s", id)
				}
				if binary.BigEndian.Uint64(k[:8]) != uint64(j.NextAt.UnixNano()) || string(name) != j.Hook+"\x00"+j.Action || string(v) != j.Key {
					fail("due entry of %s wrong", id)
				}
				return nil
			})
		})
		if err := checkQueueRuns(tx); err != nil {
			fail("%v", err)
		}
		queues := map[string][]*advJob{}
		for id, mj := range jobs {
			f, q := flags[id]
			switch mj.state {
			case Pending, Failed:
				if !q || (f != qDue && f != qWaiting) {
					fail("queued job %s (%s) flag %q queued %v", id, mj.state, f, q)
				}
				if (f == qDue) != (dueN[id] == 1) || dueN[id] > 1 {
					fail("job %s flag %c due entries %d", id, f, dueN[id])
				}
			case Running:
				if f != qRunning || dueN[id] != 0 {
					fail("running job %s flag %q due %d", id, f, dueN[id])
				}
			default:
				if q || dueN[id] != 0 {
					fail("finished job %s (%s) queued %v due %d", id, mj.state, q, dueN[id])
				}
			}
			if !mj.state.Finished() {
				queues[mj.queue()] = append(queues[mj.queue()], mj)
			}
		}
		for qn, js := range queues {
			sort.Slice(js, func(a, b int) bool { return js[a].id < js[b].id })
			conc := js[0].conc
			entries := make([]windowEntry, len(js))
			for i, mj := range js {
				entries[i] = windowEntry{id: mj.id, running: flags[mj.id] == qRunning, due: flags[mj.id] == qDue, forced: mj.forced}
			}
			// The in-flight bound, and no room lost, after every step:
			// reloads that change the concurrency included.
			if err := checkWindow(conc, entries); err != nil {
				fail("queue %s, concurrency %d: %v", qn, conc, err)
			}
			win, forced := 0, 0
			for i, mj := range js {
				in := flags[mj.id] == qDue || flags[mj.id] == qRunning
				// Past the first conc jobs (a person's retries aside),
				// only runs under way: a reload may have made the window
				// smaller than they are, and it drains as they end.
				if in && !mj.forced && flags[mj.id] == qDue && i-forced >= conc {
					fail("queue %s: job %s (#%d) due past the window of %d", qn, mj.id, i, conc)
				}
				if in {
					win++
					if mj.forced {
						forced++
					}
				}
			}
			if win-forced > conc && !resized {
				fail("queue %s: %d in window of %d", qn, win, conc)
			}
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	// Paging: ListEvents, ScanEvents, ListJobs never skip or repeat.
	var want []string
	for id := range events {
		want = append(want, id)
	}
	sort.Strings(want)
	var got1 []string
	before := ""
	for i := 0; ; i++ {
		page, next, err := s.ListEvents(EventFilter{Limit: 2, Before: before})
		if err != nil {
			fail("%v", err)
		}
		for _, e := range page {
			got1 = append(got1, e.ID)
		}
		if next == "" || i > 10000 {
			break
		}
		before = next
	}
	for i, j := 0, len(got1)-1; i < j; i, j = i+1, j-1 {
		got1[i], got1[j] = got1[j], got1[i]
	}
	if fmt.Sprint(got1) != fmt.Sprint(want) {
		fail("ListEvents paged = %v; want %v", got1, want)
	}
	var got2 []string
	after := ""
	for i := 0; ; i++ {
		page, next, err := s.ScanEvents(EventFilter{Limit: 2}, after)
		if err != nil {
			fail("%v", err)
		}
		for _, e := range page {
			got2 = append(got2, e.ID)
		}
		if next == "" || i > 10000 {
			break
		}
		after = next
	}
	if fmt.Sprint(got2) != fmt.Sprint(want) {
		fail("ScanEvents paged = %v; want %v", got2, want)
	}
	st, err := s.Stats()
	if err != nil {
		fail("%v", err)
	}
	if st.Events != len(events) {
		fail("Stats.Events %d; want %d", st.Events, len(events))
	}
}
