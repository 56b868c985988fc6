package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PruneBatch is how many events one prune transaction deletes at most.
const PruneBatch = 200

// maxPruneScan bounds how many events one prune transaction looks at, so
// that old events held by unfinished jobs do not make it long.
const maxPruneScan = 5000

// pruneScanLimit is maxPruneScan, or the test's bound.
func (s *Store) pruneScanLimit() int {
	if s.opts.pruneScan > 0 {
		return s.opts.pruneScan
	}
	return maxPruneScan
}

// Prune deletes finished events received before cutoff, with their jobs,
// runs and de-duplication entries, in transactions of at most PruneBatch
// events so that ingest never waits long for the write lock. An event with
// an unfinished job (queued, running or held) is kept. It returns how many
// events it deleted.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, next, err := s.pruneBatch(ctx, func(ev *Event) bool { return ev.Received.Before(cutoff) }, after)
		total += n
		if n > 0 {
			s.disk.lookAgain()
		}
		if err != nil {
			return total, err
		}
		if next == "" {
			return total, s.dropEmptyDue(ctx)
		}
		after = next
	}
}

// dropEmptyDue removes the due index's buckets that hold no job: an
// action's bucket is made by its first due job and outlives its last
// one, and an action renamed now and then would leave one behind per
// name. (The next due job of an action makes its bucket again.)
func (s *Store) dropEmptyDue(ctx context.Context) error {
	emptyDue := func(tx *bolt.Tx) (names [][]byte) {
		root := tx.Bucket(bDue)
		_ = root.ForEachBucket(func(name []byte) error {
			if k, _ := root.Bucket(name).Cursor().First(); k == nil {
				names = append(names, bytes.Clone(name))
			}
			return nil
		})
		return names
	}
	var any bool
	if err := s.db.View(func(tx *bolt.Tx) error { any = len(emptyDue(tx)) > 0; return nil }); err != nil || !any {
		return err
	}
	return s.update(ctx, false, func(tx *bolt.Tx) error {
		for _, name := range emptyDue(tx) {
			if err := tx.Bucket(bDue).DeleteBucket(name); err != nil {
				return fmt.Errorf("drop the empty due index of %q: %w", name, err)
			}
		}
		return nil
	})
}

// pruneBatch deletes up to PruneBatch finished events that old accepts,
// scanning from the oldest event after the id after. It returns the id to
// continue after, or "" when the scan reached an event old rejects (events
// are in arrival order) or the end.
func (s *Store) pruneBatch(ctx context.Context, old func(*Event) bool, after string) (int, string, error) {
	deleted := 0
	next := ""
	err := s.update(ctx, false, func(tx *bolt.Tx) error {
		deleted, next = 0, ""
		c := tx.Bucket(bEvents).Cursor()
		k, _ := firstAfter(c, after)
		var doomed []*Event
		last := ""
		future := s.now().Add(time.Minute)
		for scanned := 0; k != nil; k, _ = c.Next() {
			if scanned == s.pruneScanLimit() || len(doomed) == PruneBatch {
				next = last
				break
			}
			scanned++
			ev, err := getEvent(tx, string(k))
			if err != nil {
				return err
			}
			if !old(ev) {
				if ev.Received.After(future) {
					// Received while the clock was ahead: the events
					// after it in id order may be old all the same.
					last = ev.ID
					continue
				}
				break
			}
			last = ev.ID
			jobs, err := eventJobs(tx, ev)
			if err != nil {
				return err
			}
			if allFinished(jobs) {
				doomed = append(doomed, ev)
			}
		}
		for _, ev := range doomed {
			if err := s.deleteEvent(tx, ev); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		return nil
	})
	return deleted, next, err
}

func allFinished(jobs []*Job) bool {
	for _, j := range jobs {
		if !j.State.Finished() {
			return false
		}
	}
	return true
}

// deleteEvent removes a finished event and everything that hangs off it.
func (s *Store) deleteEvent(tx *bolt.Tx, ev *Event) error {
	for _, id := range ev.JobIDs {
		j, err := getJob(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bState).Delete(stateKey(j.State, j.ID)); err != nil {
			return err
		}
		if err := addCount(tx, j.State, -1); err != nil {
			return err
		}
		runs := tx.Bucket(bRuns)
		c := runs.Cursor()
		prefix := []byte(j.ID)
		var keys [][]byte
		for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+4 && hasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := runs.Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bJobs).Delete([]byte(j.ID)); err != nil {
			return err
		}
	}
	if ev.Delivery != "" {
		// Only if it still points here: a later event may own the key.
		if err := s.dd.remove(tx, dedupKey(ev.Hook, ev.Delivery), ev.ID); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bRaw).Delete([]byte(ev.ID)); err != nil {
		return err
	}
	if err := addCount(tx, eventsCount, -1); err != nil {
		return err
	}
	return tx.Bucket(bEvents).Delete([]byte(ev.ID))
}

// Policy is what retention keeps: events younger than MaxAge (0 keeps all
// ages) and, when MaxSize is set, no more live data than that (see
// PruneToSize).
type Policy struct {
	MaxAge  time.Duration
	MaxSize int64
}

// PruneLoop applies the policy policy returns (read anew each time, so a
// reload takes effect) every interval until ctx ends.
func (s *Store) PruneLoop(ctx context.Context, interval time.Duration, policy func() Policy) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p := policy()
		if p.MaxAge > 0 {
			n, err := s.Prune(ctx, s.now().Add(-p.MaxAge))
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("prune old events", "err", err)
			case n > 0:
				s.log.Info("pruned old events", "events", n, "older_than", p.MaxAge.String())
			}
		}
		if p.MaxSize > 0 {
			n, err := s.PruneToSize(ctx, p.MaxSize)
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("prune to max_size", "err", err)
			case n > 0:
				s.log.Info("pruned the oldest finished events to stay under max_size", "events", n, "max_size", p.MaxSize)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
