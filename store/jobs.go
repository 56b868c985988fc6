package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SetWindowSize gives the store, in size, an action's concurrency — the
// size of its queues' windows — as each commit is written: the scheduler's
// current config. What it says, when more than 0, wins over the sizes the
// callers pass (NewJob.Concurrency, Outcome.Concurrency, Cancel's
// concurrency): those were read before the commit, and a reload
// may come between — a request planned under concurrency 3 and stored
// after a reload to 1 would join the window beside the job running, and
// run when that one failed, before its retry. 0 (an action the config no
// longer has) leaves the callers' sizes.
func (s *Store) SetWindowSize(size func(hook, action string) int) {
	s.windows.Store(&size)
}

// windowSize is the size of hook's action's queue windows as a commit is
// written: SetWindowSize's, or else size, what the caller read (at least 1).
func (s *Store) windowSize(hook, action string, size int) int {
	if n := s.windowNow(hook, action); n > 0 {
		return n
	}
	return max(size, 1)
}

// windowNow is what SetWindowSize says of hook's action, 0 for nothing.
func (s *Store) windowNow(hook, action string) int {
	if f := s.windows.Load(); f != nil && *f != nil {
		return (*f)(hook, action)
	}
	return 0
}

// DueJob is an entry of an action's due index.
type DueJob struct {
	JobID string
	Key   string
	At    time.Time
}

// Due returns up to limit jobs of hook's action that are due at now, oldest
// first, and when the next one after them is due (zero if none is queued).
func (s *Store) Due(hook, action string, now time.Time, limit int) ([]DueJob, time.Time, error) {
	var out []DueJob
	var next time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDue).Bucket(dueBucketName(hook, action))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 8 {
				continue
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
			if at.After(now) || len(out) >= limit {
				next = at
				return nil
			}
			out = append(out, DueJob{JobID: string(k[8:]), Key: string(v), At: at})
		}
		return nil
	})
	return out, next, err
}

// Start marks due jobs running, in one transaction, and returns the ones
// it started with Attempts counting this run. A job that is no longer
// queued (cancelled or superseded since it was listed), or no longer in its
// queue's window (a reload's resize made the window smaller since), is
// left out, and so is a damaged one (see StartJobs).
func (s *Store) Start(ctx context.Context, ids ...string) ([]*Job, error) {
	started, _, err := s.StartJobs(ctx, ids)
	return started, err
}

// SetAside is a job whose record cannot be read (ErrDamaged), taken out
// of its queue so that it never runs and holds no place in its window.
type SetAside struct {
	JobID, Hook, Action string
}

// StartJobs is Start, and also returns the jobs it set aside because
// their records cannot be read (damage.go): each left its queue's
// window, which the caller refills (Refill) to the action's concurrency.
func (s *Store) StartJobs(ctx context.Context, ids []string) ([]*Job, []SetAside, error) {
	var started []*Job
	var aside []SetAside
	err := s.update(ctx, false, func(tx *bolt.Tx) error {
		var err error
		started, aside, err = s.startQueued(tx, ids, s.now(), true)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return started, aside, nil
}

// startJob marks a queued job running: out of the due index, flagged
// running in its queue, its attempt counted, and without the reason of the
// state it leaves (a failed job's "retry 1 of N at T" is this run; the
// failure's error stays with its run).
func startJob(tx *bolt.Tx, j *Job, now time.Time) error {
	if err := delDue(tx, j); err != nil {
		return err
	}
	if err := setQueueFlag(tx, j, qRunning); err != nil {
		return err
	}
	j.Attempts++
	j.Reason = ""
	if err := setState(tx, j, Running, now); err != nil {
		return err
	}
	return putJob(tx, j)
}

// Finish records a run of a running job and moves the job on: back to its
// queue (Pending after an interruption, Failed with a retry due), or out of
// it (Succeeded, Dead, Cancelled), refilling the queue's window.
func (s *Store) Finish(ctx context.Context, jobID string, out Outcome) (*Job, error) {
	j, _, err := s.FinishAndStart(ctx, jobID, out, 0)
	return j, err
}

// FinishAndStart is Finish and then, in the same transaction, Start of up
// to max jobs of the finished job's queue (its hook, action and key) that
// are in the queue's window and due: so a queue runs its next job after
// one commit rather than two (one to finish, one to start). It returns the
// finished job and the started ones, oldest first.
func (s *Store) FinishAndStart(ctx context.Context, jobID string, out Outcome, max int) (*Job, []*Job, error) {
	var r finishResult
	if err := s.submit(ctx, s.finishOp(jobID, out, max, nil, &r)); err != nil {
		return nil, nil, err
	}
	return r.job, r.started, r.stateErr
}

// FinishAndStartEarly is FinishAndStart that returns as soon as its
// transaction has applied, while the commit is still writing it, so that
// the jobs it started can run during the commit; durable then receives
// the commit's result. The started jobs may run before their start is
// on disk: a crash meanwhile leaves them pending (and the finished job
// running, which goes back to its queue on the next open), so they run
// again, in order. If durable receives an error, nothing of the
// transaction landed: the finished job is still running on disk and the
// started ones still pending; the caller records the finish again, with
// FinishAndStartIDs to mark the same jobs running.
func (s *Store) FinishAndStartEarly(ctx context.Context, jobID string, out Outcome, max int) (job *Job, started []*Job, durable <-chan error, err error) {
	var r finishResult
	durable, err = s.submitEarly(ctx, s.finishOp(jobID, out, max, nil, &r))
	if err != nil {
		return nil, nil, nil, err
	}
	if r.stateErr != nil {
		return nil, nil, durable, r.stateErr
	}
	return r.job, r.started, durable, nil
}

// FinishAndStartIDs is Finish and then, in the same transaction, Start of
// the jobs ids that are still queued (pending or failed): it records again
// a FinishAndStartEarly whose commit failed, when the jobs it started are
// running already. It returns the finished job and the started ones.
func (s *Store) FinishAndStartIDs(ctx context.Context, jobID string, out Outcome, ids []string) (*Job, []*Job, error) {
	var r finishResult
	if err := s.submit(ctx, s.finishOp(jobID, out, 0, ids, &r)); err != nil {
		return nil, nil, err
	}
	return r.job, r.started, r.stateErr
}

// finishResult is what a finish op found and did.
type finishResult struct {
	job      *Job
	started  []*Job
	stateErr error
}

// finishOp is the commit-loop op of the FinishAndStart calls: finish
// jobID, then start up to max due jobs of its queue, or the jobs ids. It
// writes its results to r.
func (s *Store) finishOp(jobID string, out Outcome, max int, ids []string, r *finishResult) *op {
	return &op{wake: true, fn: func(tx *bolt.Tx) error {
		var job *Job
		var started []*Job
		var stateErr error
		defer func() { r.job, r.started, r.stateErr = job, started, stateErr }()
		j, err := getJob(tx, jobID)
		if errors.Is(err, ErrDamaged) {
			// Damaged while it ran: its run cannot be recorded, and
			// left running it would hold its place in its queue's
			// window for good (and its event from retention). Set
			// aside, as Open does with one it finds running, and the
			// window refilled: the next dispatch starts the job behind
			// it (none is started here, as the caller takes the finish
			// for failed).
			stateErr = err
			qk, hook, action, ok := findQueued(tx, jobID)
			if !ok {
				return nil
			}
			if err := s.setAside(tx, jobID, qk, hook, action, err); err != nil {
				return err
			}
			key := string(qk[len(hook)+len(action)+2 : len(qk)-len(jobID)-1])
			return s.refill(tx, hook, action, key, s.windowSize(hook, action, out.Concurrency), s.now())
		}
		if err != nil {
			stateErr = err
			return nil
		}
		if j.State != Running {
			stateErr = fmt.Errorf("finish job %s (%s): %w", jobID, j.State, ErrState)
			return nil
		}
		run := out.Run
		run.Attempt = j.Attempts
		if len(run.Output) > MaxOutput {
			run.Output = run.Output[len(run.Output)-MaxOutput:]
			run.Truncated = true
		}
		if err := putRun(tx, j.ID, &run); err != nil {
			return err
		}
		now := s.now()
		j.Reason = out.Reason
		window := s.windowSize(j.Hook, j.Action, out.Concurrency)
		switch out.State {
		case Pending, Failed:
			if out.State == Failed {
				j.Failures++
			}
			j.NextAt = out.NextAt
			if j.NextAt.IsZero() {
				j.NextAt = now
			}
			// Back in its place in its queue, waiting; the refill below
			// makes it due at NextAt, if the window has room for it
			// there: not when a reload made the window smaller than the
			// runs that were under way and j is past its new end, nor
			// when an older job waits for the room a run leaves.
			if err := setQueueFlag(tx, j, qWaiting); err != nil {
				return err
			}
		case Succeeded, Dead, Cancelled:
			if out.State == Dead {
				j.Failures++
			}
			if err := unqueue(tx, j); err != nil {
				return err
			}
			j.NextAt = time.Time{}
		default:
			return fmt.Errorf("finish job %s: bad next state %q", jobID, out.State)
		}
		if err := setState(tx, j, out.State, now); err != nil {
			return err
		}
		if err := putJob(tx, j); err != nil {
			return err
		}
		// The room j's run leaves, to j itself or to the job that
		// waited longest.
		if err := s.refill(tx, j.Hook, j.Action, j.Key, window, now); err != nil {
			return err
		}
		job = j
		if max > 0 {
			// Not j itself, even if its retry is due already (a backoff
			// shorter than the wait for this commit): its run is the one
			// ending, and the caller would take the start for it. The
			// next dispatch starts it, ahead of the jobs behind it.
			var err error
			started, err = s.startDueInQueue(tx, j.Hook, j.Action, j.Key, now, max, j.ID, window)
			return err
		}
		// ids are runs under way already (their early start's commit
		// failed): recorded as started even if a pause came between.
		var aside []SetAside
		started, aside, err = s.startQueued(tx, ids, now, false)
		for _, a := range aside {
			if err := s.refill(tx, a.Hook, a.Action, j.Key, window, now); err != nil {
				return err
			}
		}
		return err
	}}
}

// waitingAhead reports whether a job of j's queue older than j waits
// behind the window.
func waitingAhead(tx *bolt.Tx, j *Job) bool {
	prefix := queuePrefix(j.Hook, j.Action, j.Key)
	c := tx.Bucket(bQueue).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if string(k[len(prefix):]) >= j.ID {
			return false
		}
		if len(v) == 1 && v[0] == qWaiting {
			return true
		}
	}
	return false
}

// startQueued starts those of the jobs ids that are still queued (pending
// or failed) and due at now, and returns them; the others (gone,
// cancelled, superseded, running already, or run and failed since the
// caller read them, with a retry not yet due) are left out, and so, with
// holdPaused, are the jobs of an action paused since, and those no longer
// in their queue's window (a reload lowered the concurrency since).
//
// A damaged job (ErrDamaged) is set aside, and returned in aside.
func (s *Store) startQueued(tx *bolt.Tx, ids []string, now time.Time, holdPaused bool) (started []*Job, aside []SetAside, err error) {
	for _, id := range ids {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if errors.Is(err, ErrDamaged) {
			qk, hook, action, ok := findQueued(tx, id)
			if !ok {
				continue // not queued: nothing to start, nor to set aside
			}
			if err := s.setAside(tx, id, qk, hook, action, err); err != nil {
				return nil, nil, err
			}
			aside = append(aside, SetAside{JobID: id, Hook: hook, Action: action})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if (j.State != Pending && j.State != Failed) || j.NextAt.After(now) {
			continue
		}
		if holdPaused {
			if isPaused(tx, j.Hook, j.Action) {
				continue
			}
			if v := tx.Bucket(bQueue).Get(queueKey(j)); len(v) != 1 || v[0] != qDue {
				// Out of its window since it was listed: a reload's
				// resize made the window smaller.
				continue
			}
		}
		if err := startJob(tx, j, now); err != nil {
			return nil, nil, err
		}
		started = append(started, j)
	}
	return started, aside, nil
}

// startDueInQueue starts up to max of a queue's window jobs that are due
// at now, in queue (arrival) order, except the job skip; none while the
// action is paused. A damaged job is set aside, and the window refilled
// to window jobs.
func (s *Store) startDueInQueue(tx *bolt.Tx, hook, action, key string, now time.Time, max int, skip string, window int) ([]*Job, error) {
	if isPaused(tx, hook, action) {
		return nil, nil
	}
	prefix := queuePrefix(hook, action, key)
	var ids []string
	c := tx.Bucket(bQueue).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if len(v) != 1 || (v[0] != qDue && v[0] != qRunning) {
			break // past the window
		}
		if id := string(k[len(prefix):]); v[0] == qDue && id != skip {
			ids = append(ids, id)
		}
	}
	var started []*Job
	for _, id := range ids {
		if len(started) >= max {
			break
		}
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			if err := s.setAside(tx, id, append(bytes.Clone(prefix), id...), hook, action, err); err != nil {
				return nil, err
			}
			if err := s.refill(tx, hook, action, key, window, now); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if (j.State != Pending && j.State != Failed) || j.NextAt.After(now) {
			continue
		}
		if err := startJob(tx, j, now); err != nil {
			return nil, err
		}
		started = append(started, j)
	}
	return started, nil
}

// LostStart is a run a killed daemon had under way: the job and the
// attempt it ran as.
type LostStart struct {
	JobID   string
	Attempt int
}

// RecordLostStarts records the runs a killed daemon was running whose
// start was not yet on disk (it starts a queue's next job while the finish
// before it is written): such a job is still queued with the attempt
// before, and would run again as the same attempt, its first run
// unrecorded. The attempt is counted and the run recorded as interrupted,
// so that it runs again as the next one (WEBHOOKD_ATTEMPT). A run whose
// attempt the job already counts (its start was on disk, and Open
// recorded it; or an earlier start recorded it already) is left alone, as
// are finished and unknown jobs. It returns the runs it recorded.
func (s *Store) RecordLostStarts(ctx context.Context, runs []LostStart) ([]CutRun, error) {
	var cut []CutRun
	err := s.update(ctx, true, func(tx *bolt.Tx) error {
		cut = nil
		now := s.now()
		for _, r := range runs {
			j, err := getJob(tx, r.JobID)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrDamaged) {
				continue
			}
			if err != nil {
				return err
			}
			// A lost start is the job's next attempt, no other: one it
			// counts already was recorded, and a name claiming a later
			// one is not webhookd's.
			if (j.State != Pending && j.State != Failed) || r.Attempt != j.Attempts+1 {
				continue
			}
			j.Attempts = r.Attempt
			run := Run{Attempt: j.Attempts, Started: now, Finished: now, Result: RunInterrupted,
				Error: "interrupted: webhookd stopped while it ran, before its start was written; it runs again"}
			if err := putRun(tx, j.ID, &run); err != nil {
				return err
			}
			if err := putJob(tx, j); err != nil {
				return err
			}
			cut = append(cut, CutRun{Job: j.ID, Hook: j.Hook, Action: j.Action})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cut, nil
}

// Cancel cancels a job that is queued (pending or failed). A running job
// is cancelled by stopping its run and finishing it as Cancelled.
// concurrency is the action's, to refill the window the job leaves (what
// SetWindowSize says wins over it).
func (s *Store) Cancel(ctx context.Context, jobID, reason string, concurrency int) (*Job, error) {
	return s.modify(ctx, jobID, func(tx *bolt.Tx, j *Job) error {
		if j.State != Pending && j.State != Failed {
			return fmt.Errorf("cancel job %s (%s): %w", jobID, j.State, ErrState)
		}
		if err := unqueue(tx, j); err != nil {
			return err
		}
		j.NextAt = time.Time{}
		j.Reason = reason
		now := s.now()
		if err := setState(tx, j, Cancelled, now); err != nil {
			return err
		}
		return s.refill(tx, j.Hook, j.Action, j.Key, s.windowSize(j.Hook, j.Action, concurrency), now)
	})
}

// Retry makes a failed job due now, or puts a dead, cancelled or skipped
// job back in its queue with its retries restored. The job joins its
// queue's window at once: a person asked for it to run. Its reason is
// ReasonRetried, whatever the state it left said (a failed job's "retry 1
// of 3 at T" no longer holds); its attempts go on counting, and a failed
// job keeps its failures: the retry that was due runs now.
func (s *Store) Retry(ctx context.Context, jobID string) (*Job, error) {
	return s.RetryKeyed(ctx, jobID, nil)
}

// RetryKeyed is Retry, giving a dead, cancelled or skipped job that has no
// queue key the one key says, when key is set: its key was never rendered
// (planning stops at a when that is false), and it runs in its queue.
func (s *Store) RetryKeyed(ctx context.Context, jobID string, key *string) (*Job, error) {
	return s.modify(ctx, jobID, func(tx *bolt.Tx, j *Job) error {
		now := s.now()
		switch j.State {
		case Failed, Pending:
			if v := tx.Bucket(bQueue).Get(queueKey(j)); len(v) == 1 && v[0] == qWaiting {
				// Behind the queue's window: making it due would run it
				// before the earlier jobs of its queue, or beside the
				// runs that a reload left past the window's new end.
				return fmt.Errorf("retry job %s: it waits for its turn in its queue, behind earlier jobs or runs under way, and runs then: %w", jobID, ErrState)
			}
			if err := delDue(tx, j); err != nil {
				return err
			}
			j.NextAt = now
			j.Reason = ReasonRetried
			if err := setQueueFlag(tx, j, qDue); err != nil {
				return err
			}
			if err := addDue(tx, j); err != nil {
				return err
			}
			if j.State == Failed {
				return setState(tx, j, Pending, now)
			}
			return nil
		case Dead, Cancelled, Skipped:
			if key != nil && j.Key == "" {
				j.Key = queueKeyOf(*key)
			}
			j.Failures = 0
			j.Reason = ReasonRetried
			j.NextAt = now
			j.Requeued = now
			if err := setState(tx, j, Pending, now); err != nil {
				return err
			}
			if waitingAhead(tx, j) {
				// One that was cancelled or skipped while it waited:
				// back in its place, it runs in its turn, not before
				// the earlier jobs still waiting.
				return setQueueFlag(tx, j, qWaiting)
			}
			// Ahead of every waiting job (one that died in the window):
			// due now, in the window, beyond its size if need be — a
			// person asked.
			if err := setQueueFlag(tx, j, qDue); err != nil {
				return err
			}
			return addDue(tx, j)
		default:
			return fmt.Errorf("retry job %s (%s): %w", jobID, j.State, ErrState)
		}
	})
}

// modify applies fn to a job in the commit loop and puts it. fn must check
// the job's state before it writes anything.
func (s *Store) modify(ctx context.Context, jobID string, fn func(*bolt.Tx, *Job) error) (*Job, error) {
	var job *Job
	var opErr error
	err := s.update(ctx, true, func(tx *bolt.Tx) error {
		job, opErr = nil, nil
		j, err := getJob(tx, jobID)
		if err != nil {
			opErr = err
			return nil
		}
		if err := fn(tx, j); err != nil {
			if isLogical(err) {
				opErr = err
				return nil
			}
			return err
		}
		if err := putJob(tx, j); err != nil {
			return err
		}
		job = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return job, opErr
}

func isLogical(err error) bool {
	return errors.Is(err, ErrState) || errors.Is(err, ErrNotFound)
}

// AddJobs creates jobs for a stored event, as a replay does.
func (s *Store) AddJobs(ctx context.Context, eventID string, jobs []NewJob) ([]*Job, error) {
	var out []*Job
	var opErr error
	err := s.update(ctx, true, func(tx *bolt.Tx) error {
		out, opErr = nil, nil
		ev, err := getEvent(tx, eventID)
		if err != nil {
			opErr = err
			return nil
		}
		now := s.now()
		for i := range jobs {
			j, _, err := s.enqueue(tx, ev.Hook, ev.ID, &jobs[i], now)
			if err != nil {
				return err
			}
			ev.JobIDs = append(ev.JobIDs, j.ID)
			out = append(out, j)
		}
		return putEvent(tx, ev)
	})
	if err != nil {
		return nil, err
	}
	return out, opErr
}

// Refill brings every queue of hook's action to concurrency() window jobs
// (asked in each transaction; less than 1 stops), at start and after a
// reload changed the action's concurrency: up, by moving waiting jobs into
// the window; down, by moving the window's due jobs past the new size back
// to waiting (running jobs stay; the window drains as they end). It works
// in small transactions, so it never holds the write lock for long.
//
// It reads what it is to resize once the commit under way, if any, has
// ended: a job that commit writes was sized as the concurrency was before
// the reload (SetWindowSize), and a read that began before it ended would
// not see the job, and leave it due in a window the new size has no room
// for. The jobs written after it are sized as the reload says.
func (s *Store) Refill(ctx context.Context, hook, action string, concurrency func() int) error {
	s.settle()
	prefix := queuePrefix(hook, action, "")
	prefix = prefix[:len(prefix)-1] // hook \0 action \0
	// The queues' due jobs, read once (the due index holds a window's
	// worth per key): where each shrink may stop. A job made due since
	// is in its window already; one that is no longer due is seen so.
	var due map[string]map[string]bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		due = dueByKey(tx, hook, action)
		return nil
	}); err != nil {
		return err
	}
	var after []byte
	for {
		var keys []string
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bQueue).Cursor()
			k, _ := c.Seek(prefix)
			if after != nil {
				k, _ = c.Seek(after)
			}
			for k != nil && hasPrefix(k, prefix) && len(keys) < 256 {
				rest := k[len(prefix):]
				if len(rest) < idLen+1 {
					k, _ = c.Next()
					continue
				}
				// The default queue's key is "": a key of its own too.
				key := string(rest[:len(rest)-idLen-1])
				keys = append(keys, key)
				// On to the next key, past this one's jobs (ids are
				// ASCII, below 0xff): a queue of a million jobs is one
				// key, not a million steps.
				after = append(queuePrefix(hook, action, key), 0xff)
				k, _ = c.Seek(after)
			}
			if k == nil || !hasPrefix(k, prefix) {
				after = nil
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			err = s.update(ctx, true, func(tx *bolt.Tx) error {
				// The size as this commit is written: finishes in
				// between use the same, so none undoes what this did.
				n := concurrency()
				if n < 1 {
					return nil // the action is gone
				}
				for _, key := range keys {
					if err := s.shrink(tx, hook, action, key, n, due[key]); err != nil {
						return err
					}
					if err := s.refill(tx, hook, action, key, n, s.now()); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if after == nil {
			return nil
		}
	}
}
