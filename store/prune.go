package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
		n, next, err := s.pruneBatch(ctx, func(received time.Time) bool { return received.Before(cutoff) }, after)
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

// pruneBatch deletes up to PruneBatch finished events that old accepts
// (by their received time), scanning from the oldest event after the id
// after. It returns the id to continue after, or "" when the scan reached
// an event old rejects (events are in arrival order) or the end. A
// damaged event is judged by the time in its id (damage.go).
func (s *Store) pruneBatch(ctx context.Context, old func(received time.Time) bool, after string) (int, string, error) {
	deleted := 0
	next := ""
	err := s.update(ctx, false, func(tx *bolt.Tx) error {
		deleted, next = 0, ""
		c := tx.Bucket(bEvents).Cursor()
		k, _ := firstAfter(c, after)
		var doomed []*pruned
		last := ""
		future := s.now().Add(time.Minute)
		for scanned := 0; k != nil; k, _ = c.Next() {
			if scanned == s.pruneScanLimit() || len(doomed) == PruneBatch {
				next = last
				break
			}
			scanned++
			p, err := readPruned(tx, string(k))
			if err != nil {
				return err
			}
			if !old(p.received) {
				if p.received.After(future) {
					// Received while the clock was ahead: the events
					// after it in id order may be old all the same.
					last = p.id
					continue
				}
				break
			}
			last = p.id
			if p.finished() {
				doomed = append(doomed, p)
			}
		}
		for _, p := range doomed {
			if err := s.deletePruned(tx, p); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		return nil
	})
	return deleted, next, err
}

// pruned is an event as retention sees it: its record, or for a damaged
// one (ev nil) what keys tell of it.
type pruned struct {
	id       string
	ev       *Event    // nil when damaged
	received time.Time // a damaged event's: its id's
	jobs     []*Job    // those that could be read
	// damagedJobs are job ids whose records cannot be read, with their
	// state from the state index ("" when in none: set aside).
	damagedJobs map[string]State
	// strayJob is a damaged job found where a damaged event's jobs are,
	// which may be its: left alone.
	strayJob string
	err      error // why ev is nil
}

// readPruned reads the event stored as id for retention. An event that
// cannot be decoded is not an error: see damage.go.
func readPruned(tx *bolt.Tx, id string) (*pruned, error) {
	p := &pruned{id: id}
	ev, err := getEvent(tx, id)
	switch {
	case err == nil:
		p.ev, p.received = ev, ev.Received
		for _, jid := range ev.JobIDs {
			j, err := getJob(tx, jid)
			switch {
			case err == nil:
				p.jobs = append(p.jobs, j)
			case errors.Is(err, ErrDamaged):
				if p.damagedJobs == nil {
					p.damagedJobs = map[string]State{}
				}
				p.damagedJobs[jid], _ = jobStateByKey(tx, jid)
			default:
				return nil, err
			}
		}
	case errors.Is(err, ErrDamaged):
		p.err, p.received = err, IDTime(id)
		p.jobs, p.strayJob = jobsByKey(tx, id)
	default:
		return nil, err
	}
	return p, nil
}

// jobsByKey finds the jobs made with event id without its record: ingest
// gives an event's jobs the ids that follow its own, in its transaction,
// so they are the jobs after it in key order whose event it is. Jobs that
// a replay added later are not found. A damaged job met there ends the
// search and is returned as stray: it may be the event's or another's.
func jobsByKey(tx *bolt.Tx, id string) (jobs []*Job, stray string) {
	c := tx.Bucket(bJobs).Cursor()
	for k, v := c.Seek([]byte(id)); k != nil; k, v = c.Next() {
		j := new(Job)
		if err := json.Unmarshal(v, j); err != nil {
			return jobs, string(k)
		}
		if j.EventID != id {
			break
		}
		jobs = append(jobs, j)
	}
	return jobs, ""
}

// finished reports whether every job of the event is finished: a damaged
// job is by the state index (set aside, it is in none).
func (p *pruned) finished() bool {
	for _, st := range p.damagedJobs {
		if st != "" && !st.Finished() {
			return false
		}
	}
	return allFinished(p.jobs)
}

// deletePruned deletes an event retention found finished, with what hangs
// off it, and notes what of a damaged one it could not delete.
func (s *Store) deletePruned(tx *bolt.Tx, p *pruned) error {
	for id := range p.damagedJobs {
		if err := deleteJob(tx, id, nil); err != nil {
			return err
		}
		s.stageDamaged("job", id, "pruned a job whose record is damaged, with its runs", "event_id", p.id)
	}
	if err := s.deleteEvent(tx, p.id, p.ev, p.jobs); err != nil {
		return err
	}
	if p.ev == nil {
		left := "its de-duplication entry, if it had a delivery id (that needs the record): a redelivery of it is stored as a new event; jobs a replay added to it, if any"
		args := []any{"jobs_pruned", len(p.jobs), "not_cleaned", left, "err", p.err}
		if p.strayJob != "" {
			args = append(args, "damaged_job_left", p.strayJob)
		}
		s.stageDamaged("event", p.id, "pruned an event past retention whose record is damaged, with its body and the jobs found from its id", args...)
	}
	return nil
}

func allFinished(jobs []*Job) bool {
	for _, j := range jobs {
		if !j.State.Finished() {
			return false
		}
	}
	return true
}

// deleteEvent removes the finished event id and everything that hangs off
// it: its jobs, which the caller has read, and its de-duplication entry
// when ev, its record, is given (nil: damaged, see damage.go).
func (s *Store) deleteEvent(tx *bolt.Tx, id string, ev *Event, jobs []*Job) error {
	for _, j := range jobs {
		if err := deleteJob(tx, j.ID, j); err != nil {
			return err
		}
	}
	if ev != nil && ev.Delivery != "" {
		// Only if it still points here: a later event may own the key.
		if err := s.dd.remove(tx, dedupKey(ev.Hook, ev.Delivery), ev.ID); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bRaw).Delete([]byte(id)); err != nil {
		return err
	}
	if err := addCount(tx, eventsCount, -1); err != nil {
		return err
	}
	return tx.Bucket(bEvents).Delete([]byte(id))
}

// deleteJob removes a finished job, its runs and its state index entry;
// j is its record, or nil when it cannot be read (its state is looked
// up in the index).
func deleteJob(tx *bolt.Tx, id string, j *Job) error {
	if j != nil {
		if err := tx.Bucket(bState).Delete(stateKey(j.State, j.ID)); err != nil {
			return err
		}
		if err := addCount(tx, j.State, -1); err != nil {
			return err
		}
	} else if err := dropStateByKey(tx, id); err != nil {
		return err
	}
	if err := deleteRuns(tx, id); err != nil {
		return err
	}
	return tx.Bucket(bJobs).Delete([]byte(id))
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
