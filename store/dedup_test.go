package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestDedup_Model: the de-duplication index, written behind (in memory
// first, merged into its bucket later in key order), answers as a model of
// "a delivery id is stored once while its event is kept" through random
// ingests (new and repeated delivery ids, several at once, so that
// commits hold many), prunes, clean restarts and crashes, with merges
// small enough to span many commits and to be cut off by a crash, and
// (seeds 3 and 4) flushes of the entries in memory whenever the loop is
// idle.
func TestDedup_Model(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel() // each seed has its own file, clock and random source
			dedupModel(t, seed)
		})
	}
}

func dedupModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7))
	path := filepath.Join(t.TempDir(), "dedup.db")
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func() { mu.Lock(); now = now.Add(time.Second); mu.Unlock() }
	// Seeds 3 and 4 also write every entry out whenever the loop has
	// been idle for a millisecond, which some steps wait for.
	idle := time.Duration(0)
	if seed >= 3 {
		idle = time.Millisecond
	}
	open := func(crash bool) *Store {
		t.Helper()
		s, err := Open(path, Options{Now: clock, dedupMergeAt: 7, dedupMergeMin: 3, dedupIdle: idle, crashAtClose: crash})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(false)
	defer func() { s.Close() }()
	ctx := context.Background()

	type stored struct {
		id       string
		received time.Time
	}
	model := map[string]stored{} // hook \0 delivery → event
	key := func(hook, d string) string { return hook + "\x00" + d }
	hooks := []string{"a", "b"}
	merges := 0
	for step := 0; step < 400; step++ {
		switch op := rng.IntN(100); {
		case op < 80: // ingest a few deliveries at once, some repeated
			n := 1 + rng.IntN(12)
			type req struct{ hook, delivery string }
			reqs := make([]req, n)
			for i := range reqs {
				reqs[i] = req{hooks[rng.IntN(2)], fmt.Sprint("d", rng.IntN(150))}
			}
			results := make([]IngestResult, n)
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := s.Ingest(ctx, &NewEvent{Hook: r.hook, Type: "push", Delivery: r.delivery, Received: clock(), Body: []byte("{}")})
					if err != nil {
						t.Error(err)
					}
					results[i] = res
				}()
			}
			wg.Wait()
			// Requests for one key: the first committed is stored, the
			// others are its duplicates; a key already stored is a
			// duplicate of that event.
			byKey := map[string][]IngestResult{}
			for i, r := range reqs {
				byKey[key(r.hook, r.delivery)] = append(byKey[key(r.hook, r.delivery)], results[i])
			}
			for k, rs := range byKey {
				want, had := model[k]
				var fresh []string
				for _, r := range rs {
					if !r.Duplicate {
						fresh = append(fresh, r.ID)
					}
				}
				switch {
				case had && len(fresh) > 0:
					t.Fatalf("step %d: %q is stored as %s, and was stored again as %v", step, k, want.id, fresh)
				case !had && len(fresh) != 1:
					t.Fatalf("step %d: %q was new; stored %d times (%v)", step, k, len(fresh), rs)
				case !had:
					want = stored{fresh[0], clock()}
					model[k] = want
				}
				for _, r := range rs {
					if r.ID != want.id {
						t.Fatalf("step %d: %q answered %+v; want event %s", step, k, r, want.id)
					}
				}
			}
			advance()
		case op < 88: // prune what arrived before a moment in the past
			cutoff := clock().Add(-time.Duration(rng.IntN(60)) * time.Second)
			if _, err := s.Prune(ctx, cutoff); err != nil {
				t.Fatal(err)
			}
			for k, ev := range model {
				if ev.received.Before(cutoff) {
					delete(model, k)
				}
			}
		case idle > 0 && op < 93: // nothing for a while: the loop writes its entries out
			time.Sleep(5 * time.Millisecond)
		default: // restart, cleanly or as after a crash
			crash := rng.IntN(2) == 0
			s.opts.crashAtClose = crash
			// The merge state belongs to the commit loop: read it there.
			if err := s.update(ctx, false, func(*bolt.Tx) error {
				if s.dd.merging != nil || s.dd.sorting != nil {
					merges++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(false)
			if !crash && len(s.dd.live) != 0 {
				t.Fatalf("step %d: after a clean close, %d dedup entries were read back; want none (flushed)", step, len(s.dd.live))
			}
		}
		// The bucket and memory together hold exactly the model. Both
		// are read in one op of the commit loop, which owns the memory
		// and, idle, may move entries from it to the bucket.
		type index struct{ bucket, memory map[string]string }
		done := make(chan index, 1)
		if err := s.update(ctx, false, func(tx *bolt.Tx) error {
			ix := index{map[string]string{}, map[string]string{}}
			if err := tx.Bucket(bDedup).ForEach(func(k, v []byte) error { ix.bucket[string(k)] = string(v); return nil }); err != nil {
				return err
			}
			for k, v := range s.dd.live {
				ix.memory[k] = v
			}
			select { // once, even if the op were run again
			case done <- ix:
			default:
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ix := <-done
		got := ix.bucket
		for k, v := range ix.memory {
			if old, ok := got[k]; ok && old != v {
				t.Fatalf("step %d: %q is %s in the bucket and %s in memory", step, k, old, v)
			}
			got[k] = v
		}
		if len(got) != len(model) {
			t.Fatalf("step %d: the index holds %d entries; the model %d", step, len(got), len(model))
		}
		for k, ev := range model {
			if got[k] != ev.id {
				t.Fatalf("step %d: index[%q] = %q; want %s", step, k, got[k], ev.id)
			}
		}
	}
	if merges == 0 {
		t.Errorf("no restart came during a merge: the test did not cut one off")
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkOpenAfterCrash measures Open on a store left by a crash with a
// full merge threshold's worth of dedup entries only in memory: Open reads
// them back from the events. Compare with the same store closed cleanly.
func BenchmarkOpenAfterCrash(b *testing.B) {
	for _, crash := range []bool{false, true} {
		b.Run(fmt.Sprint("crash=", crash), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "open.db")
			s, err := Open(path, Options{crashAtClose: crash})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < dedupMergeAt-1; i += 64 {
						if _, err := s.Ingest(context.Background(), newEvent("h", fmt.Sprint("6113728f-27ae-82c7-b1a1-", i), NewJob{Action: "a", Skip: "no"})); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			s.Close()
			b.ResetTimer()
			for range b.N {
				s, err := Open(path, Options{ReadOnly: false})
				if err != nil {
					b.Fatal(err)
				}
				if crash && len(s.dd.live) != dedupMergeAt-1 {
					b.Fatalf("read back %d entries; want %d", len(s.dd.live), dedupMergeAt-1)
				}
				// Leave it as the crash did, for the next round.
				s.opts.crashAtClose = crash
				s.Close()
			}
		})
	}
}

// BenchmarkOpen_NoDeliveryIDs: a start on 200,000 events without a
// delivery id, closed cleanly. Until 1e9ba4d the merge mark never moved
// past such events and every start read them all back (680–770 ms on the
// development machine); now it reads none.
//
//	go test ./store -run '^$' -bench 'BenchmarkOpen_NoDeliveryIDs' -benchtime 5x
func BenchmarkOpen_NoDeliveryIDs(b *testing.B) {
	const events = 200_000
	path := filepath.Join(b.TempDir(), "open.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < events; i += 64 {
				if _, err := s.Ingest(context.Background(), newEvent("h", "")); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkDedupSnapshotSort measures sorting a full merge snapshot
// (dedupMergeAt entries with GUID-like delivery ids): the work begin moves
// off the commit loop.
func BenchmarkDedupSnapshotSort(b *testing.B) {
	base := make([]dedupEntry, dedupMergeAt)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range base {
		base[i] = dedupEntry{fmt.Sprintf("bench\x00%08x-27ae-82c7-b1a1-%012x", rng.Uint32(), rng.Uint64()>>16), fmt.Sprint(i)}
	}
	snap := make([]dedupEntry, len(base))
	for range b.N {
		copy(snap, base)
		sortEntries(snap)
	}
}

// TestDedup_IdleFlush: once the commit loop has been idle for a while, the
// entries in memory go to their bucket and the mark to the newest event:
// a start after a crash reads none back, the deliveries are still known,
// and the next quiet spell after more work writes the new ones.
func TestDedup_IdleFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedup.db")
	open := func() *Store {
		t.Helper()
		s, err := Open(path, Options{dedupIdle: 20 * time.Millisecond, crashAtClose: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	inBucket := func(s *Store, want int) (marked string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := 0
			err := s.db.View(func(tx *bolt.Tx) error {
				n = tx.Bucket(bDedup).Stats().KeyN
				marked = string(tx.Bucket(bMeta).Get(metaDedupUpto))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				return marked
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d entries in the bucket after 5 s idle; want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s := open()
	var last string
	for i := range 5 {
		res, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("d", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = res.ID
	}
	if marked := inBucket(s, 5); marked != last {
		t.Errorf("mark = %q after the idle flush; want the newest event %s", marked, last)
	}
	s.Close() // as a crash: nothing more is written
	s = open()
	defer s.Close()
	memory := -1
	if err := s.update(ctx, false, func(*bolt.Tx) error { memory = len(s.dd.live); return nil }); err != nil {
		t.Fatal(err)
	}
	if memory != 0 {
		t.Errorf("%d entries read back after a crash that followed an idle flush; want none", memory)
	}
	if res, err := s.Ingest(ctx, newEvent("h", "d3")); err != nil || !res.Duplicate {
		t.Errorf("Ingest(d3 again) = %+v, %v; want a duplicate", res, err)
	}
	if _, err := s.Ingest(ctx, newEvent("h", "d5")); err != nil {
		t.Fatal(err)
	}
	inBucket(s, 6)
}

// TestDedup_PendingBounded: with a retention that keeps fewer events than
// a merge waits for, and traffic that never leaves the loop idle, pruning
// keeps the entries in memory below the merge threshold; the list of
// entries waiting for a snapshot must still be merged and let go, not grow
// with every delivery ever received.
func TestDedup_PendingBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const mergeAt, keep, deliveries = 50, 20, 400
	s, _ := openTest(t, Options{Now: clock, dedupMergeAt: mergeAt, dedupIdle: -1})
	ctx := context.Background()
	for i := range deliveries {
		ne := newEvent("h", fmt.Sprint("delivery-", i), NewJob{Action: "a", Skip: "no"})
		ne.Received = now
		if _, err := s.Ingest(ctx, ne); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		if _, err := s.Prune(ctx, now.Add(-keep*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var live, pending int
	if err := s.update(ctx, false, func(*bolt.Tx) error {
		live, pending = len(s.dd.live), len(s.dd.pending)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deliveries: %d entries live, %d pending", deliveries, live, pending)
	if pending > 2*mergeAt {
		t.Errorf("%d entries pending after %d deliveries with %d live; want at most %d", pending, deliveries, live, 2*mergeAt)
	}
	// The kept events' delivery ids are still duplicates, the pruned ones not.
	for _, tc := range []struct {
		i   int
		dup bool
	}{{deliveries - 1, true}, {deliveries - keep + 1, true}, {0, false}, {deliveries / 2, false}} {
		res, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("delivery-", tc.i), NewJob{Action: "a", Skip: "no"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate != tc.dup {
			t.Errorf("delivery-%d again: duplicate %v; want %v", tc.i, res.Duplicate, tc.dup)
		}
	}
}

// TestDedup_IDsPastMarkAfterRestart: the merge mark names the newest event
// of the last finished merge. When that event is pruned and the next start's
// clock is behind it (a Raspberry Pi without a clock of its own, started
// before NTP), new events must still get ids after the mark: the entries of
// events up to the mark are not read back after a crash, so a redelivery
// would be stored twice.
func TestDedup_IDsPastMarkAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mark.db")
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	open := func(crash bool) *Store {
		t.Helper()
		s, err := Open(path, Options{Now: clock, dedupIdle: -1, crashAtClose: crash})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// One delivery; a clean close merges its entry: the mark is its event.
	s := open(false)
	ne := newEvent("h", "d-old", NewJob{Action: "a", Skip: "no"})
	ne.Received = clock()
	if _, err := s.Ingest(ctx, ne); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Retention prunes it.
	set(clock().Add(48 * time.Hour))
	s = open(false)
	if n, err := s.Prune(ctx, clock().Add(-24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	s.Close()
	// A start with the clock a month behind, which ends in a crash.
	set(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	s = open(true)
	first, err := s.Ingest(ctx, newEvent("h", "d-new", NewJob{Action: "a", Skip: "no"}))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// After the crash the sender delivers d-new again.
	s = open(false)
	defer s.Close()
	again, err := s.Ingest(ctx, newEvent("h", "d-new", NewJob{Action: "a", Skip: "no"}))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.ID != first.ID {
		t.Errorf("d-new again after the crash = %+v; want a duplicate of %s", again, first.ID)
	}
}

// TestDedup_UndecodableEventAtOpen: an event stored after the index was
// last written, whose record cannot be decoded, stops the start: its
// delivery id cannot be read back, and a redelivery of it would run its
// actions again. The refusal names the event, the file, what is wrong
// and what to do; it gave the decoding error alone.
func TestDedup_UndecodableEventAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dd.db")
	s, err := Open(path, Options{crashAtClose: true, dedupIdle: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Ingest(context.Background(), newEvent("h", "d1", job("a")))
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // as a crash leaves it: d1's entry is not in the index
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bEvents).Put([]byte(res.ID), []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded; want it to refuse an event whose delivery id it cannot read back")
	}
	for _, want := range []string{res.ID, path, "invalid character", "redelivery", "README, Backups"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open = %v; want it to say %q", err, want)
		}
	}
}

// TestDedup_MarkMovesWithoutDeliveryIDs: events without a delivery id (a
// provider that sends none) have no entry to merge, and the merge mark
// moved only with a merge: it stayed where it was for good, and every
// start read back every event stored since — all of them, on a store that
// never had an id, a second or more per start on a large one. Now it
// moves to the newest event whenever nothing waits to be merged, so a
// start after a crash reads back nothing of those events.
func TestDedup_MarkMovesWithoutDeliveryIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dd.db")
	s, err := Open(path, Options{crashAtClose: true, dedupIdle: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// One with an id, merged when the loop is idle; then many without.
	first, err := s.Ingest(ctx, newEvent("h", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	mark := func() (m string) {
		s.db.View(func(tx *bolt.Tx) error { m = string(tx.Bucket(bMeta).Get(metaDedupUpto)); return nil })
		return m
	}
	for deadline := time.Now().Add(5 * time.Second); mark() != first.ID; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mark = %q 5 s after d1; want d1's event %s", mark(), first.ID)
		}
	}
	var last string
	for range 50 {
		res, err := s.Ingest(ctx, newEvent("h", ""))
		if err != nil {
			t.Fatal(err)
		}
		last = res.ID
	}
	// One more commit after the last event: the mark lags a commit.
	if err := s.update(ctx, false, func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	marked := mark()
	s.Close() // as a crash: no merge or flush at the close
	if marked != last {
		t.Errorf("merge mark = %q after 50 events without a delivery id; want the newest, %s (a start reads back every event past the mark)", marked, last)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res, err := s.Ingest(ctx, newEvent("h", "d1")); err != nil || !res.Duplicate {
		t.Errorf("Ingest(d1 again) = %+v, %v; want a duplicate", res, err)
	}
}
