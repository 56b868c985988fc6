package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// GetEvent returns an event; with raw, its headers, query and body too.
func (s *Store) GetEvent(id string, raw bool) (*Event, error) {
	if !raw {
		return s.getEvent(id, nil)
	}
	return s.getEvent(id, decodeRaw)
}

// GetEventHead returns an event with its headers, query and the first n
// bytes of its body (ev.Size is the whole body's): a page that shows the
// start of a body of tens of MiB reads, copies and holds its read
// transaction for that start alone.
func (s *Store) GetEventHead(id string, n int) (*Event, error) {
	return s.getEvent(id, func(v []byte) (http.Header, string, []byte, int, error) { return decodeRawHead(v, n) })
}

// getEvent reads an event and, with decode, its raw record (headers,
// query, body) as decode makes it. A raw record that cannot be decoded,
// or whose body is not the event's size, is damaged (ErrDamaged).
func (s *Store) getEvent(id string, decode func(v []byte) (http.Header, string, []byte, int, error)) (*Event, error) {
	var ev *Event
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bEvents) == nil {
			return fmt.Errorf("event %s: %w", id, ErrNotFound)
		}
		var err error
		if ev, err = getEvent(tx, id); err != nil {
			return err
		}
		if decode == nil {
			return nil
		}
		if v := tx.Bucket(bRaw).Get([]byte(id)); v != nil {
			var size int
			ev.Header, ev.Query, ev.Body, size, err = decode(v)
			if err == nil && size != ev.Size {
				err = fmt.Errorf("a body of %d bytes where the event has %d", size, ev.Size)
			}
			if err != nil {
				ev = nil
				return damagedError("the headers and body of event", id, err)
			}
		}
		return nil
	})
	return ev, err
}

// GetJob returns a job.
func (s *Store) GetJob(id string) (*Job, error) {
	var j *Job
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bJobs) == nil {
			return fmt.Errorf("job %s: %w", id, ErrNotFound)
		}
		var err error
		j, err = getJob(tx, id)
		return err
	})
	return j, err
}

// Jobs returns the jobs of an event, oldest first.
func (s *Store) Jobs(ev *Event) ([]*Job, error) {
	var out []*Job
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = s.eventJobs(tx, ev)
		return err
	})
	return out, err
}

// eventJobs reads an event's jobs. A job whose record cannot be read is
// one with its id and the state Damaged, and its error as reason, logged
// once: the others are shown.
func (s *Store) eventJobs(tx *bolt.Tx, ev *Event) ([]*Job, error) {
	out := make([]*Job, 0, len(ev.JobIDs))
	for _, id := range ev.JobIDs {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			s.warnDamaged("job", id, "a job's record is damaged and cannot be read: it is listed as damaged. Restore a backup to get it back (README, Backups)", "event_id", ev.ID, "err", err)
			j = damagedJob(id, ev, err)
		} else if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// damagedJob stands for the job id of ev, whose record err could not
// read, in a listing.
func damagedJob(id string, ev *Event, err error) *Job {
	j := &Job{ID: id, State: Damaged, Reason: err.Error(), Created: IDTime(id)}
	if ev != nil {
		j.EventID, j.Hook = ev.ID, ev.Hook
	}
	return j
}

// decodeRun decodes the run stored as k, v; one that cannot be read is a
// run of that attempt with the result Damaged and its error.
func (s *Store) decodeRun(jobID string, k, v []byte) *Run {
	r := new(Run)
	if err := json.Unmarshal(v, r); err != nil {
		attempt := int(binary.BigEndian.Uint32(k[len(k)-4:]))
		s.warnDamaged("run", fmt.Sprintf("%s/%d", jobID, attempt), "a run's record is damaged and cannot be read: it is shown as damaged. Restore a backup to get it back (README, Backups)", "err", err)
		return &Run{Attempt: attempt, Result: string(Damaged), Error: "the run's record is damaged and cannot be read: " + err.Error()}
	}
	return r
}

// Runs returns a job's runs, first attempt first.
func (s *Store) Runs(jobID string) ([]*Run, error) {
	var out []*Run
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		prefix := []byte(jobID)
		for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+4 && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, s.decodeRun(jobID, k, v))
		}
		return nil
	})
	return out, err
}

// LastRuns returns a job's last n runs, first attempt first, and how many
// runs it had before them: an action may retry 1000 times, each run
// keeping 64 KiB of output.
func (s *Store) LastRuns(jobID string, n int) (out []*Run, earlier int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		prefix := []byte(jobID)
		end := append([]byte(jobID), 0xff, 0xff, 0xff, 0xff) // past its last run's key
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else if !bytes.Equal(k, end) {
			k, v = c.Prev()
		}
		for ; k != nil && len(k) == len(prefix)+4 && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == n {
				earlier++
				continue
			}
			out = append(out, s.decodeRun(jobID, k, v))
		}
		slices.Reverse(out)
		return nil
	})
	return out, earlier, err
}

// EventState sums up an event's jobs, taking the newest job of each action
// (a replay supersedes the jobs before it): running if one runs, else
// pending if one is queued (pending or failed), else dead, else cancelled,
// else succeeded if one succeeded, else skipped (nothing ran).
func EventState(jobs []*Job) State {
	latest := map[string]*Job{}
	for _, j := range jobs {
		latest[j.Action] = j
	}
	var has = map[State]bool{}
	for _, j := range latest {
		has[j.State] = true
	}
	for _, st := range []State{Running, Pending, Failed, Dead, Cancelled, Succeeded} {
		if has[st] {
			if st == Failed {
				return Pending
			}
			return st
		}
	}
	return Skipped
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	Hook   string
	State  State  // as EventState reports it; "" for any
	Before string // an event id: list events older than it
	Since  string // an event id: list events no older than it
	Limit  int    // default 50
	// ReceivedSince and ReceivedUntil, when set, bound the events'
	// received times too. Ids follow the clock but never go back, so after
	// a clock that ran ahead is put right an id can be later than its
	// event's received time: Since and Before (from IDAt) are where to
	// look, and these are what the events must have.
	ReceivedSince, ReceivedUntil time.Time
	// Deadline, when set, ends ListEvents' look once it has passed, as
	// maxScan does (next leads on to the events not looked at): on a slow
	// machine, looking at maxScan events takes longer than a client of
	// the admin API waits for an answer.
	Deadline time.Time
}

// match decodes the event stored as k, v and returns it with its jobs if
// it passes the filter's hook and state, or nil. An event that cannot be
// decoded is logged once, and returned, with its id, the time in its id
// and the state Damaged, when damaged says so and the filter asks for no
// hook or state (it cannot tell them).
func (s *Store) match(f EventFilter, tx *bolt.Tx, k, v []byte, damaged bool) (*EventView, error) {
	ev := new(Event)
	if err := json.Unmarshal(v, ev); err != nil {
		err = damagedError("event", string(k), err)
		s.warnDamaged("event", string(k), "an event's record is damaged and cannot be read: listings show it as damaged, and retention prunes it in its turn. Restore a backup to get it back (README, Backups)", "err", err)
		at := IDTime(string(k))
		if !damaged || f.Hook != "" || f.State != "" ||
			!f.ReceivedSince.IsZero() && at.Before(f.ReceivedSince) || !f.ReceivedUntil.IsZero() && !at.Before(f.ReceivedUntil) {
			return nil, nil
		}
		return &EventView{Event: &Event{ID: string(k), Received: at, JobIDs: []string{}}, State: Damaged, Jobs: []*Job{}}, nil
	}
	if f.Hook != "" && ev.Hook != f.Hook {
		return nil, nil
	}
	if !f.ReceivedSince.IsZero() && ev.Received.Before(f.ReceivedSince) || !f.ReceivedUntil.IsZero() && !ev.Received.Before(f.ReceivedUntil) {
		return nil, nil
	}
	jobs, err := s.eventJobs(tx, ev)
	if err != nil {
		return nil, err
	}
	st := EventState(jobs)
	if f.State != "" && st != f.State {
		return nil, nil
	}
	return &EventView{Event: ev, State: st, Jobs: jobs}, nil
}

// EventView is an event with its jobs and its summed-up state.
type EventView struct {
	*Event
	State State  `json:"state"`
	Jobs  []*Job `json:"-"`
}

// maxScan bounds how many events one ListEvents or ScanEvents call looks
// at.
const maxScan = 200_000

// scanLimit is maxScan, or the test's bound.
func (s *Store) scanLimit() int {
	if s.opts.maxScan > 0 {
		return s.opts.maxScan
	}
	return maxScan
}

// listChunk is how many events one read transaction of a walk over events
// (walkEvents: ListEvents, ScanEvents) looks at. A walk looks at up to
// maxScan events, seconds on a Pi; while a read transaction is open, bbolt
// cannot grow its map of the file for a commit, which waits for it (and
// ingest with it), nor reuse the pages freed since it began.
const listChunk = 256

// walkEvents calls visit with the events in key order, newest first when
// backward, from where start puts a new cursor: at the walk's beginning
// when last is "", else on the key after last (in the walk's direction).
// It reads listChunk events a read transaction, a new one positioned by
// start after each; visit ends the walk by returning stop (before it
// takes k). An event deleted between two transactions may be left out.
func (s *Store) walkEvents(backward bool, start func(c *bolt.Cursor, last string) (k, v []byte), visit func(tx *bolt.Tx, k, v []byte) (stop bool, err error)) error {
	chunk := listChunk
	if s.opts.listChunk > 0 {
		chunk = s.opts.listChunk
	}
	last := "" // the last key visited
	for more := true; more; {
		more = false
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bEvents)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			step := c.Next
			if backward {
				step = c.Prev
			}
			n := 0
			for k, v := start(c, last); k != nil; k, v = step() {
				if n == chunk {
					more = true // on from last, in a new transaction
					return nil
				}
				stop, err := visit(tx, k, v)
				if stop || err != nil {
					return err
				}
				n++
				last = string(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ListEvents lists events newest first. next is the cursor for the page
// after this one ("" at the end). It reads listChunk events a transaction
// (walkEvents): an event deleted meanwhile may be left out, and one stored
// meanwhile is newer than those it looks at.
func (s *Store) ListEvents(f EventFilter) (out []*EventView, next string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	limit := s.scanLimit()
	scanned := 0
	last := "" // the last key looked at
	err = s.walkEvents(true, func(c *bolt.Cursor, after string) ([]byte, []byte) {
		from := after
		if from == "" {
			from = f.Before // look at the events before it; "": from the newest
		}
		if from == "" {
			return c.Last()
		}
		c.Seek([]byte(from))
		return c.Prev()
	}, func(tx *bolt.Tx, k, v []byte) (bool, error) {
		if f.Since != "" && string(k) < f.Since {
			return true, nil
		}
		if len(out) == f.Limit || scanned == limit || scanned%64 == 63 && !f.Deadline.IsZero() && time.Now().After(f.Deadline) {
			// More may follow: the caller goes on before the last one
			// looked at.
			next = last
			return true, nil
		}
		scanned++
		last = string(k)
		view, err := s.match(f, tx, k, v, true)
		if view != nil {
			out = append(out, view)
		}
		return false, err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ListJobs lists jobs in a state, oldest first, after the job id after.
func (s *Store) ListJobs(st State, after string, limit int) (out []*Job, next string, err error) {
	if limit <= 0 {
		limit = 50
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bState) == nil {
			return nil
		}
		prefix := stateKey(st, "")
		c := tx.Bucket(bState).Cursor()
		k, _ := c.Seek(stateKey(st, after))
		if after != "" && k != nil && string(k) == string(stateKey(st, after)) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(out) == limit {
				next = out[len(out)-1].ID
				return nil
			}
			id := string(k[len(prefix):])
			j, err := getJob(tx, id)
			if errors.Is(err, ErrDamaged) {
				s.warnDamaged("job", id, "a job's record is damaged and cannot be read: it is listed as damaged. Restore a backup to get it back (README, Backups)", "state", st, "err", err)
				j, err = damagedJob(id, nil, err), nil
			}
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return out, next, err
}

// Stats are counts kept by the store.
type Stats struct {
	Jobs     map[State]int64
	Events   int
	FileSize int64 // the database file's size on disk
	// OldestQueue is the pending or failed job that has waited longest,
	// if any, and QueuedSince when it has waited since: its creation, or
	// the retry that put it back in its queue.
	OldestQueue string
	QueuedSince time.Time
}

// Stats returns job and event counts and the database file's size. It does
// not scan: the counts are kept as events and jobs come and go.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Jobs: map[State]int64{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) == nil {
			return nil
		}
		for _, state := range States {
			st.Jobs[state] = getCount(tx, state)
		}
		st.Events = int(getCount(tx, eventsCount))
		st.FileSize = tx.Size()
		for _, state := range []State{Pending, Failed} {
			if err := oldestQueued(tx, state, &st); err != nil {
				return err
			}
		}
		return nil
	})
	// The file, not the pages in use (tx.Size): bbolt grows the file
	// ahead of its data, and the disk holds the file.
	if fi, serr := os.Stat(s.db.Path()); serr == nil {
		st.FileSize = fi.Size()
	}
	return st, err
}

// oldestQueued finds, among the jobs in state, one that has waited longer
// than st's, if any. The jobs are read in id (creation) order, and a job
// waits since its id's time unless a retry put it back later (Requeued):
// once a job was created after the longest wait found began, none after
// it can beat it (of two that tie, the first id is taken). So the first job settles it, unless retried jobs come
// first: a scrape reads one job, and one more per such job.
func oldestQueued(tx *bolt.Tx, state State, st *Stats) error {
	prefix := stateKey(state, "")
	c := tx.Bucket(bState).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := string(k[len(prefix):])
		if st.OldestQueue != "" && IDTime(id).After(st.QueuedSince) {
			return nil
		}
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			continue // set aside when the scheduler meets it
		}
		if err != nil {
			return err
		}
		since := IDTime(id)
		if j.Requeued.After(since) {
			since = j.Requeued
		}
		if st.OldestQueue == "" || since.Before(st.QueuedSince) || since.Equal(st.QueuedSince) && id < st.OldestQueue {
			st.OldestQueue, st.QueuedSince = id, since
		}
	}
	return nil
}

// Backup writes a consistent copy of the database to w from one read
// transaction; writers go on meanwhile.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Check runs bbolt's consistency check and returns the first problem.
//
// On a store that writes, the check runs in the commit loop: bbolt's check
// reads the free-page list, which a concurrent commit changes, so it must
// not run beside one.
func (s *Store) Check() error {
	check := func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	}
	if s.opts.ReadOnly {
		return s.db.View(check)
	}
	var result error
	err := s.update(context.Background(), false, func(tx *bolt.Tx) error {
		result = check(tx)
		return nil
	})
	if errors.Is(err, ErrClosed) {
		return s.db.View(check)
	}
	if err != nil {
		return err
	}
	return result
}
