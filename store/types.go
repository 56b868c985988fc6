package store

import (
	"errors"
	"net/http"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound is an event or job that is not in the store.
	ErrNotFound = errors.New("not found")
	// ErrClosed is an operation on a closed store.
	ErrClosed = errors.New("store closed")
	// ErrState is a job transition its current state does not allow.
	ErrState = errors.New("not allowed in this state")
)

// State is the state of a job.
type State string

// Job states. A job is pending until it starts, running while it runs, and
// then succeeded, failed (a retry is due: it waits in the queue), dead (no
// retries left), skipped (it was never to run: its when was false, or a
// newer job superseded it) or cancelled (by a person).
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Dead      State = "dead"
	Skipped   State = "skipped"
	Cancelled State = "cancelled"
)

// States lists every job state.
var States = []State{Pending, Running, Succeeded, Failed, Dead, Skipped, Cancelled}

// Finished reports whether a job in state s will not run again on its own.
func (s State) Finished() bool {
	switch s {
	case Succeeded, Dead, Skipped, Cancelled:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Event is one stored delivery.
type Event struct {
	ID          string    `json:"id"`
	Hook        string    `json:"hook"`
	Type        string    `json:"event,omitempty"`
	Delivery    string    `json:"delivery,omitempty"`
	Received    time.Time `json:"received"`
	Remote      string    `json:"remote,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Size        int       `json:"size"`
	JobIDs      []string  `json:"jobs"`

	// Header, Query and Body are filled by GetEvent with raw set.
	Header http.Header `json:"-"`
	Query  string      `json:"-"`
	Body   []byte      `json:"-"`
}

// Job is one run-until-done of one action for one event.
type Job struct {
	ID      string `json:"id"`
	EventID string `json:"event"`
	Hook    string `json:"hook"`
	Action  string `json:"action"`
	// Key splits an action's queue: jobs with the same key obey the
	// action's concurrency together.
	Key   string `json:"key,omitempty"`
	State State  `json:"state"`
	// Reason says why a job is skipped, dead, cancelled or failed; of a
	// pending one, that a person retried it (ReasonRetried).
	Reason   string `json:"reason,omitempty"`
	Attempts int    `json:"attempts"` // runs started
	Failures int    `json:"failures"` // runs that failed
	// NextAt is when a pending or failed job is due.
	NextAt  time.Time `json:"next_at,omitzero"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Requeued is when a retry put the job back in its queue after it had
	// left it (dead, cancelled or skipped): it has waited since then.
	Requeued time.Time `json:"requeued,omitzero"`
}

// Run is one attempt of a job.
type Run struct {
	Attempt  int       `json:"attempt"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Result is succeeded, failed or interrupted.
	Result string `json:"result"`
	// ExitCode is the command's exit status (-1 when it was killed by a
	// signal or never started); Status is an HTTP action's response status.
	ExitCode  *int   `json:"exit_code,omitempty"`
	Status    int    `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
	Output    []byte `json:"output,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Duration is how long the run took.
func (r *Run) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Run results.
const (
	RunSucceeded   = "succeeded"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
)

// MaxOutput is the most output kept with a run: its last bytes.
const MaxOutput = 64 << 10

// NewEvent is a verified delivery to store, with the jobs it starts.
type NewEvent struct {
	Hook        string
	Type        string
	Delivery    string // de-duplication key within the hook; "" never dedups
	Received    time.Time
	Remote      string
	ContentType string
	Header      http.Header
	Query       string
	Body        []byte
	Jobs        []NewJob
}

// NewJob is a job to create with an event (or on replay).
type NewJob struct {
	Action string
	Key    string
	// Skip, when set, records the job as skipped with this reason.
	Skip string
	// Fail, when set, records the job as dead with this reason: its key
	// could not be rendered, so it can never run as it is.
	Fail string
	// Concurrency is the action's concurrency (at least 1): how many of its
	// queue's jobs may be in flight at once. What Store.SetWindowSize says
	// as the job is written wins over it.
	Concurrency int
	// Coalesce skips the queued (not running) jobs of the same queue.
	Coalesce bool
}

// IngestResult is the outcome of Ingest.
type IngestResult struct {
	ID        string // the new event's id, or the first one's for a duplicate
	Duplicate bool
	Jobs      int // jobs queued to run
}

// Outcome is how a run ended, for Finish.
type Outcome struct {
	Run Run
	// State is the job's next state: Succeeded, Failed (NextAt is when to
	// retry), Dead, Cancelled, or Pending (the run was interrupted and does
	// not count as a failure).
	State  State
	NextAt time.Time
	Reason string
	// Concurrency is the action's concurrency, the size of its queues'
	// windows, as the caller read it; what Store.SetWindowSize says as the
	// finish is written wins over it (a reload may come between).
	Concurrency int
}

// ReasonRetried is the reason of a job a person retried (Retry): it is
// pending again, and the reason of the state it left no longer holds.
const ReasonRetried = "retried by hand"
