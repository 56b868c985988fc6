package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Ingest stores a verified delivery with its jobs in one transaction and
// returns once that transaction is durable. A delivery id already stored
// for the same hook is a duplicate: nothing is written and the first
// event's id is returned.
func (s *Store) Ingest(ctx context.Context, ne *NewEvent) (IngestResult, error) {
	o, res, err := s.ingestOp(ne)
	if err != nil {
		return IngestResult{}, err
	}
	if err := s.submit(ctx, o); err != nil {
		return IngestResult{}, err
	}
	return *res, nil
}

// ingestOp makes Ingest's operation for the commit loop; res holds its
// outcome once the op has run. (BenchmarkIngest also runs it through
// bbolt's db.Batch, to compare.)
func (s *Store) ingestOp(ne *NewEvent) (o *op, res *IngestResult, err error) {
	raw := encodeRaw(ne.Header, ne.Query, ne.Body)
	if max := maxRecord(); len(raw) > max {
		return nil, nil, fmt.Errorf("%w: %d bytes with its headers, at most %d", ErrTooLarge, len(raw), max)
	}
	if err := s.disk.check(len(raw)); err != nil {
		return nil, nil, err
	}
	res = new(IngestResult)
	delivery := cleanKey(ne.Delivery)
	o = &op{bytes: len(raw), wake: true}
	o.fn = func(tx *bolt.Tx) error {
		*res = IngestResult{}
		// An event written, for the commit's figures: not a duplicate.
		// (fn runs again when its batch is retried op by op.)
		o.events = 0
		if delivery != "" {
			// An entry whose event is gone is stale (retention pruned a
			// damaged event, whose delivery id it could not read to
			// remove it): this delivery is stored, and its entry
			// replaces that one.
			if id := s.dd.lookup(tx, dedupKey(ne.Hook, delivery)); id != "" && tx.Bucket(bEvents).Get([]byte(id)) != nil {
				*res = IngestResult{ID: id, Duplicate: true}
				return nil
			}
		}
		now := s.now()
		ev := &Event{
			ID:          s.ids.next(now),
			Hook:        ne.Hook,
			Type:        ne.Type,
			Delivery:    delivery,
			Received:    ne.Received,
			Remote:      ne.Remote,
			ContentType: ne.ContentType,
			Size:        len(ne.Body),
		}
		if ev.Received.IsZero() {
			ev.Received = now
		}
		for i := range ne.Jobs {
			j, queued, err := s.enqueue(tx, ev.Hook, ev.ID, &ne.Jobs[i], now)
			if err != nil {
				return err
			}
			ev.JobIDs = append(ev.JobIDs, j.ID)
			if queued {
				res.Jobs++
			}
		}
		if err := putEvent(tx, ev); err != nil {
			return err
		}
		if err := addCount(tx, eventsCount, 1); err != nil {
			return err
		}
		if err := tx.Bucket(bRaw).Put([]byte(ev.ID), raw); err != nil {
			return err
		}
		if delivery != "" {
			s.dd.add(dedupKey(ne.Hook, delivery), ev.ID)
		}
		res.ID = ev.ID
		o.events = 1
		return nil
	}
	return o, res, nil
}

// enqueue creates a job of hook's for event evID. It reports whether the
// job is queued to run (rather than recorded as skipped or dead).
func (s *Store) enqueue(tx *bolt.Tx, hook, evID string, nj *NewJob, now time.Time) (*Job, bool, error) {
	j := &Job{
		ID:      s.ids.next(now),
		EventID: evID,
		Hook:    hook,
		Action:  nj.Action,
		Key:     queueKeyOf(nj.Key),
		Created: now,
	}
	switch {
	case nj.Skip != "":
		j.Reason = nj.Skip
		return j, false, s.create(tx, j, Skipped, now)
	case nj.Fail != "":
		j.Reason = nj.Fail
		return j, false, s.create(tx, j, Dead, now)
	}
	// The window's size as this commit is written, not as the job was
	// planned: a reload may have come between.
	window := s.windowSize(j.Hook, j.Action, nj.Concurrency)
	if nj.Coalesce {
		if err := s.supersede(tx, j.Hook, j.Action, j.Key, evID, now); err != nil {
			return nil, false, err
		}
		// What a replay of an older event left (newer events' jobs)
		// moves up into the window it freed, ahead of the new job.
		if err := s.refill(tx, j.Hook, j.Action, j.Key, window, now); err != nil {
			return nil, false, err
		}
	}
	j.NextAt = now
	if err := s.create(tx, j, Pending, now); err != nil {
		return nil, false, err
	}
	if !roomAtEnd(tx, queuePrefix(j.Hook, j.Action, j.Key), window) {
		return j, true, setQueueFlag(tx, j, qWaiting)
	}
	if err := setQueueFlag(tx, j, qDue); err != nil {
		return nil, false, err
	}
	return j, true, addDue(tx, j)
}

func (s *Store) create(tx *bolt.Tx, j *Job, st State, now time.Time) error {
	if err := setState(tx, j, st, now); err != nil {
		return err
	}
	return putJob(tx, j)
}

// roomAtEnd reports whether a job that joins the end of a queue (prefix)
// joins its window of size n: whether fewer than n-r of the queue's jobs
// that do not run are ahead of it, r being the queue's running jobs.
func roomAtEnd(tx *bolt.Tx, prefix []byte, n int) bool {
	room := max(n, 1) - queueRuns(tx, prefix)
	if room <= 0 {
		return false
	}
	c := tx.Bucket(bQueue).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if len(v) == 1 && v[0] == qRunning {
			continue
		}
		if room--; room == 0 {
			return false
		}
	}
	return true
}

// supersede skips a queue's jobs that are not running: byEvent has queued
// behind them. A replay of an older event leaves the pending jobs of newer
// ones queued (coalesce deploys the newest push, not the one replayed
// last), but not one waiting for a retry: a replay is how a person rolls
// back from a push whose deploy fails, and of the same event, how they run
// it now.
func (s *Store) supersede(tx *bolt.Tx, hook, action, key string, byEvent string, now time.Time) error {
	prefix := queuePrefix(hook, action, key)
	q := tx.Bucket(bQueue)
	var ids []string
	c := q.Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if len(v) == 1 && v[0] != qRunning {
			ids = append(ids, string(k[len(prefix):]))
		}
	}
	for _, id := range ids {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			if err := s.setAside(tx, id, append(bytes.Clone(prefix), id...), hook, action, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if j.State == Pending && j.EventID > byEvent {
			continue // a newer push's, waiting to deploy (ids sort by arrival)
		}
		if err := unqueue(tx, j); err != nil {
			return err
		}
		j.Reason = "superseded by event " + byEvent
		j.NextAt = time.Time{}
		if err := setState(tx, j, Skipped, now); err != nil {
			return err
		}
		if err := putJob(tx, j); err != nil {
			return err
		}
	}
	return nil
}

// unqueue removes j from its queue and the due index. It does not refill
// the window: see refill.
func unqueue(tx *bolt.Tx, j *Job) error {
	if err := delDue(tx, j); err != nil {
		return err
	}
	return delQueued(tx, queueKey(j))
}

// queueKeyOf is the queue key a rendered key template gives: NUL bytes
// out (keys are joined with NUL), and cut to a length bbolt keys take.
func queueKeyOf(k string) string { return cleanKey(strings.ReplaceAll(k, "\x00", "")) }

// dueByKey returns the due jobs of hook's action, by queue key: the
// action's due index holds a window's worth per key.
func dueByKey(tx *bolt.Tx, hook, action string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	b := tx.Bucket(bDue).Bucket(dueBucketName(hook, action))
	if b == nil {
		return out
	}
	_ = b.ForEach(func(k, v []byte) error {
		if len(k) > 8 {
			key := string(v)
			if out[key] == nil {
				out[key] = map[string]bool{}
			}
			out[key][string(k[8:])] = true
		}
		return nil
	})
	return out
}

// refill moves waiting jobs of a queue into its window until the window
// holds concurrency jobs.
//
// A queue's window is every one of its running jobs, wherever it is in
// the queue, and its first jobs that do not run, as many as the running
// ones leave room for: concurrency N, r jobs running, the first N-r
// others are due (in the window and the due index), the rest wait. The
// running jobs are mostly the queue's first jobs too; but a reload that
// lowers the concurrency leaves the runs under way past the window's new
// end, and they count until they end, wherever they are (concurrency
// 3 -> 1 -> 2 while three run: the job that waits behind the first joins
// the window once one of them ends, not at the raise). A retry a person
// asks for (Retry of a finished job) joins the window beyond its size.
func (s *Store) refill(tx *bolt.Tx, hook, action, key string, concurrency int, now time.Time) error {
	for {
		again, err := s.refillOnce(tx, hook, action, key, concurrency, now)
		if err != nil || !again {
			return err
		}
		// A damaged job was set aside: the window has room for
		// one more.
	}
}

// refillOnce is refill; again reports that it set a damaged job aside, and
// the window may take another. It walks the queue's first N-r jobs that
// do not run, and the running ones among them: no more than N entries,
// whatever the queue holds behind them.
func (s *Store) refillOnce(tx *bolt.Tx, hook, action, key string, concurrency int, now time.Time) (again bool, err error) {
	prefix := queuePrefix(hook, action, key)
	room := max(concurrency, 1) - queueRuns(tx, prefix)
	if room <= 0 {
		return false, nil
	}
	q := tx.Bucket(bQueue)
	var promote []string
	c := q.Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && room > 0; k, v = c.Next() {
		if len(v) == 1 && v[0] == qRunning {
			continue
		}
		if len(v) == 1 && v[0] == qWaiting {
			promote = append(promote, string(k[len(prefix):]))
		}
		room--
	}
	for _, id := range promote {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			if err := s.setAside(tx, id, append(bytes.Clone(prefix), id...), hook, action, err); err != nil {
				return false, err
			}
			again = true
			continue
		}
		if err != nil {
			return false, err
		}
		if j.State == Pending && j.NextAt.After(now) {
			// A pending job is due at once. One queued while the clock
			// ran ahead of where it is now would wait out the step.
			j.NextAt = now
			if err := putJob(tx, j); err != nil {
				return false, err
			}
		}
		if err := setQueueFlag(tx, j, qDue); err != nil {
			return false, err
		}
		if err := addDue(tx, j); err != nil {
			return false, err
		}
	}
	return again, nil
}

// shrink moves the due jobs of a queue past its window (see refill) back
// to waiting, after the concurrency was lowered (by a reload, or while no
// daemon ran): running jobs stay in the window, which holds more than
// concurrency jobs until they end. due are the queue's due jobs
// (dueByKey): a window need not be the queue's first entries — a start
// puts the jobs a crash cut off back waiting in their places, ahead of a
// failed one still due — so the walk counts every job that does not run,
// due or waiting, and ends at the last of the due ones (read before this
// transaction: one that is no longer due is left as it is).
func (s *Store) shrink(tx *bolt.Tx, hook, action, key string, concurrency int, due map[string]bool) error {
	if len(due) == 0 {
		return nil
	}
	prefix := queuePrefix(hook, action, key)
	room := max(concurrency, 1) - queueRuns(tx, prefix)
	var demote []string
	left := len(due)
	c := tx.Bucket(bQueue).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && left > 0; k, v = c.Next() {
		if len(v) == 1 && v[0] == qRunning {
			continue
		}
		if id := string(k[len(prefix):]); due[id] {
			if room <= 0 && len(v) == 1 && v[0] == qDue {
				demote = append(demote, id)
			}
			left--
		}
		room--
	}
	for _, id := range demote {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			if err := s.setAside(tx, id, append(bytes.Clone(prefix), id...), hook, action, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := delDue(tx, j); err != nil {
			return err
		}
		if err := setQueueFlag(tx, j, qWaiting); err != nil {
			return err
		}
	}
	return nil
}

// maxKeyLen bounds a delivery id or queue key as the store keeps it.
const maxKeyLen = 256

// cleanKey makes a sender's delivery id or a rendered queue key safe to
// keep: one longer than maxKeyLen (bbolt refuses keys over 32 KiB) or not
// valid UTF-8 (the JSON that events and jobs are kept in would change it,
// so that the key rebuilt from the record no longer matches the index) is
// replaced by a readable prefix and a digest of the whole.
func cleanKey(s string) string {
	if len(s) <= maxKeyLen && utf8.ValidString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	p := strings.ToValidUTF8(s[:min(len(s), 64)], "\uFFFD")
	for len(p) > 64 {
		_, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
	}
	return p + "~" + hex.EncodeToString(sum[:16])
}
