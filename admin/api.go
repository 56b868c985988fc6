package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// MaxLimit is the most events or jobs one page of the API holds.
const MaxLimit = 500

// EventStates are the states an event can be in (store.EventState): the
// values of the state filter on events.
var EventStates = []store.State{store.Pending, store.Running, store.Succeeded, store.Dead, store.Cancelled, store.Skipped}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// onlyParams refuses a query parameter other than known: on a request
// that writes, a misspelt filter that was ignored would widen what it does
// (sate=dead on a bulk replay replayed every event of the hook); on a
// listing, it would answer another listing than the one asked for.
func onlyParams(q url.Values, known ...string) error {
	for k := range q {
		if !slices.Contains(known, k) {
			return badRequest("unknown parameter %q: want %s", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// parseEventFilter reads hook, state, limit, before, since and until.
// since and until are RFC 3339 times; before is an event id (the cursor).
func parseEventFilter(q url.Values, now time.Time) (store.EventFilter, error) {
	f := store.EventFilter{Hook: q.Get("hook"), State: store.State(q.Get("state")), Before: q.Get("before")}
	if f.State != "" && !validEventState(f.State) {
		return f, badRequest("state %q: want one of %v", f.State, EventStates)
	}
	if f.Before != "" && !store.ValidID(f.Before) {
		return f, badRequest("before %q is not an event id", f.Before)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return f, badRequest("limit %q: want 1 to %d", v, MaxLimit)
		}
		f.Limit = n
	}
	if v := q.Get("since"); v != "" {
		t, err := parseTime(v, now)
		if err != nil {
			return f, badRequest("since: %v", err)
		}
		f.Since, f.ReceivedSince = store.IDAt(t), t
	}
	if v := q.Get("until"); v != "" {
		t, err := parseTime(v, now)
		if err != nil {
			return f, badRequest("until: %v", err)
		}
		if id := store.IDAt(t); f.Before == "" || id < f.Before {
			f.Before = id
		}
		f.ReceivedUntil = t
	}
	return f, nil
}

func validEventState(st store.State) bool {
	for _, s := range EventStates {
		if s == st {
			return true
		}
	}
	return false
}

// parseTime reads an RFC 3339 time, or a duration before now ("24h").
func parseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (24h)", v)
}

func (s *Server) held() HeldFunc { return s.opts.Scheduler.Held }

// GET /api/events?hook=&state=&limit=&before=&since=&until=
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	// A misspelt parameter, ignored, would answer another listing than
	// the one asked for: befor= the first page again, sate= every event.
	err := onlyParams(r.URL.Query(), "hook", "state", "limit", "before", "since", "until")
	var f store.EventFilter
	if err == nil {
		f, err = parseEventFilter(r.URL.Query(), s.now())
	}
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.listEvents(f)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// listBudget is how long a listing of events may look for events that
// match before it answers with what it found and the cursor to go on
// from: looking at the store's bound of events (200,000) takes a few
// seconds on a PC and far longer on a Pi, and `webhookd events` waits 10s
// for an answer to begin.
var listBudget = 4 * time.Second

func (s *Server) listEvents(f store.EventFilter) (*EventListJSON, error) {
	f.Deadline = time.Now().Add(listBudget)
	evs, next, err := s.opts.Store.ListEvents(f)
	if err != nil {
		return nil, err
	}
	out := &EventListJSON{Events: []EventJSON{}, Next: next}
	for _, v := range evs {
		out.Events = append(out.Events, EventSummary(v, s.held()))
	}
	return out, nil
}

// GET /api/events/{id}
func (s *Server) apiEvent(w http.ResponseWriter, r *http.Request) {
	out, ev, err := s.event(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSONHead(w, http.StatusOK)
	if ev.Size > parseUpTo {
		// Looking a body of tens of MiB through (is it JSON? how large
		// is it indented?) takes seconds on a Pi: the status goes
		// first, so that a client that bounds the wait for an answer to
		// begin (webhookd show, 10s) does not take the daemon for stuck.
		http.NewResponseController(w).Flush()
	}
	var body eventBody
	if ev.Header != nil {
		body = bodyOf(ev)
	}
	// The body, copied once out of the read transaction, is escaped or
	// indented as the answer goes out: no transaction waits on the
	// client, and the answer is never in memory whole.
	if err := writeEventBody(w, out, body); err != nil {
		s.log.Debug("answer an event", "event_id", ev.ID, "err", err)
	}
}

// event reads an event for its answer: the answer but its body, and the
// event with its body.
func (s *Server) event(id string) (*EventJSON, *store.Event, error) {
	if !store.ValidID(id) {
		return nil, nil, fmt.Errorf("event %q: %w", id, store.ErrNotFound)
	}
	ev, err := s.opts.Store.GetEvent(id, true)
	if err != nil {
		return nil, nil, err
	}
	out, err := eventDetail(s.opts.Store, s.held(), ev, false, true)
	return out, ev, err
}

// ReplayJSON is the answer to a replay: the jobs it queued.
type ReplayJSON struct {
	Event string    `json:"event"`
	Jobs  []JobJSON `json:"jobs"`
}

// POST /api/events/{id}/replay?action=
func (s *Server) apiReplay(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r.URL.Query(), "action"); err != nil {
		writeError(w, err)
		return
	}
	out, err := s.replay(r, r.PathValue("id"), r.URL.Query().Get("action"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) replay(r *http.Request, id, action string) (*ReplayJSON, error) {
	if !store.ValidID(id) {
		return nil, fmt.Errorf("event %q: %w", id, store.ErrNotFound)
	}
	jobs, err := s.opts.Scheduler.Replay(r.Context(), id, action)
	if err != nil {
		return nil, err
	}
	s.log.Info("replay", "event_id", id, "action", action, "jobs", len(jobs))
	out := &ReplayJSON{Event: id, Jobs: []JobJSON{}}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, JobJSON{Job: j, Held: heldReason(s.held(), j)})
	}
	return out, nil
}

// JobListJSON is a page of jobs: GET /api/jobs.
type JobListJSON struct {
	Jobs []JobJSON `json:"jobs"`
	// Next is the cursor for the following page (pass it as after=).
	Next string `json:"next,omitempty"`
}

// GET /api/jobs?state=&after=&limit=
func (s *Server) apiJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, "state", "after", "limit"); err != nil {
		writeError(w, err)
		return
	}
	st := store.State(q.Get("state"))
	if st == "" {
		writeError(w, badRequest("state is required: one of %v", store.States))
		return
	}
	if !st.Valid() {
		writeError(w, badRequest("state %q: want one of %v", st, store.States))
		return
	}
	after := q.Get("after")
	if after != "" && !store.ValidID(after) {
		writeError(w, badRequest("after %q is not a job id", after))
		return
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, badRequest("limit %q: want 1 to %d", v, MaxLimit))
			return
		}
		limit = n
	}
	jobs, next, err := s.opts.Store.ListJobs(st, after, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	out := JobListJSON{Jobs: []JobJSON{}, Next: next}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, JobJSON{Job: j, Held: heldReason(s.held(), j)})
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/jobs/{id}: one job with its runs.
func (s *Server) apiJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := jobJSON(s.opts.Store, s.held(), j, true)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) job(id string) (*store.Job, error) {
	if !store.ValidID(id) {
		return nil, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	return s.opts.Store.GetJob(id)
}

// POST /api/jobs/{id}/retry
func (s *Server) apiRetry(w http.ResponseWriter, r *http.Request) {
	j, err := s.retry(r, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JobJSON{Job: j, Held: heldReason(s.held(), j)})
}

func (s *Server) retry(r *http.Request, id string) (*store.Job, error) {
	if _, err := s.job(id); err != nil {
		return nil, err
	}
	j, err := s.opts.Scheduler.Retry(r.Context(), id)
	if errors.Is(err, store.ErrState) {
		return nil, err // it says "retry job ID (state): ..." already
	} else if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	s.log.Info("retry", "job_id", id, "event_id", j.EventID, "action", j.Action)
	return j, nil
}

// POST /api/jobs/{id}/cancel
func (s *Server) apiCancel(w http.ResponseWriter, r *http.Request) {
	j, err := s.cancel(r, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JobJSON{Job: j})
}

func (s *Server) cancel(r *http.Request, id string) (*store.Job, error) {
	if _, err := s.job(id); err != nil {
		return nil, err
	}
	j, err := s.opts.Scheduler.Cancel(r.Context(), id)
	if errors.Is(err, store.ErrState) {
		return nil, err // it says "cancel job ID (state): ..." already
	} else if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	s.log.Info("cancel", "job_id", id, "event_id", j.EventID, "action", j.Action)
	return j, nil
}

// ActionJSON is a configured action and whether it is paused.
type ActionJSON struct {
	Hook   string `json:"hook"`
	Action string `json:"action"`
	Paused bool   `json:"paused"`
	// InConfig is false for an action the config no longer has, listed
	// because it is paused or has queued jobs.
	InConfig bool `json:"in_config"`
	// Queued is set for an action the config no longer has that has
	// queued jobs: they are held until it returns.
	Queued bool `json:"queued,omitempty"`
}

// GET /api/actions
func (s *Server) apiActions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]ActionJSON{"actions": s.actions()})
}

func (s *Server) actions() []ActionJSON {
	paused := map[string]bool{}
	for _, p := range s.opts.Scheduler.Paused() {
		paused[p] = true
	}
	out := []ActionJSON{}
	for _, a := range s.opts.Scheduler.Config().Actions {
		k := a.Hook + "/" + a.Name
		out = append(out, ActionJSON{Hook: a.Hook, Action: a.Name, Paused: paused[k], InConfig: true})
		delete(paused, k)
	}
	// Actions the config no longer has: paused ones, and those with
	// queued jobs, which wait for them to return.
	gone := map[string]*ActionJSON{}
	var order []string
	for _, p := range s.opts.Scheduler.Paused() {
		if paused[p] {
			hook, action, _ := strings.Cut(p, "/")
			gone[p] = &ActionJSON{Hook: hook, Action: action, Paused: true}
			order = append(order, p)
		}
	}
	queued, err := s.opts.Store.QueuedActions()
	if err != nil {
		s.log.Warn("list the actions with queued jobs", "err", err)
	}
	for _, q := range queued {
		hook, action, _ := strings.Cut(q, "/")
		if s.opts.Scheduler.Config().Action(hook, action) != nil {
			continue
		}
		if gone[q] == nil {
			gone[q] = &ActionJSON{Hook: hook, Action: action}
			order = append(order, q)
		}
		gone[q].Queued = true
	}
	for _, k := range order {
		out = append(out, *gone[k])
	}
	return out
}

// POST /api/actions/{hook}/{action}/pause
func (s *Server) apiPause(w http.ResponseWriter, r *http.Request) {
	s.apiSetPaused(w, r, true)
}

// POST /api/actions/{hook}/{action}/resume
func (s *Server) apiResume(w http.ResponseWriter, r *http.Request) {
	s.apiSetPaused(w, r, false)
}

func (s *Server) apiSetPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	a, err := s.setPaused(r, r.PathValue("hook"), r.PathValue("action"), paused)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// setPaused pauses or resumes an action. Pausing needs an action the
// config has; resuming works on any paused one (a reload may have removed
// it meanwhile).
func (s *Server) setPaused(r *http.Request, hook, action string, paused bool) (*ActionJSON, error) {
	name := hook + "/" + action
	inConfig := s.opts.Scheduler.Config().Action(hook, action) != nil
	if !inConfig {
		if paused {
			return nil, fmt.Errorf("action %s is not in the config: %w", name, store.ErrNotFound)
		}
		if !s.isPaused(name) {
			return nil, fmt.Errorf("action %s is not in the config and not paused: %w", name, store.ErrNotFound)
		}
	}
	if err := s.opts.Scheduler.SetPaused(r.Context(), hook, action, paused); err != nil {
		return nil, fmt.Errorf("pause %s: %w", name, err)
	}
	s.log.Info("pause", "hook", hook, "action", action, "paused", paused)
	return &ActionJSON{Hook: hook, Action: action, Paused: paused, InConfig: inConfig}, nil
}

func (s *Server) isPaused(name string) bool {
	for _, p := range s.opts.Scheduler.Paused() {
		if p == name {
			return true
		}
	}
	return false
}

// GET /api/rejections: the recent refused requests, newest first.
func (s *Server) apiRejections(w http.ResponseWriter, r *http.Request) {
	rs := s.opts.Rejections()
	if rs == nil {
		rs = []listener.Rejection{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rejections": rs})
}

// StatusJSON is GET /api/status.
type StatusJSON struct {
	Status
	UptimeSeconds int64                 `json:"uptime_seconds"`
	Jobs          map[store.State]int64 `json:"jobs"`
	Running       int                   `json:"running"`
	Paused        []string              `json:"paused"`
	Events        int                   `json:"events"`
	DatabaseBytes int64                 `json:"database_bytes"`
	OldestQueued  string                `json:"oldest_queued_job,omitempty"`
	// OldestQueuedAgeSeconds is how long the queued job that has waited
	// longest has waited (0 if none).
	OldestQueuedAgeSeconds int64 `json:"oldest_queued_age_seconds"`
	// Refusing says why new deliveries are answered 503 now (the disk
	// below min_free, the database file replaced); "" while they are
	// accepted.
	Refusing string `json:"refusing,omitempty"`
}

// GET /api/status
func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	out, err := s.status()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) status() (*StatusJSON, error) {
	st, err := s.opts.Store.Stats()
	if err != nil {
		return nil, err
	}
	status := s.opts.Status()
	out := &StatusJSON{
		Status: status, Jobs: st.Jobs, Running: len(s.opts.Scheduler.Running()), Paused: s.opts.Scheduler.Paused(),
		Events: st.Events, DatabaseBytes: st.FileSize, OldestQueued: st.OldestQueue,
	}
	if err := s.opts.Store.Refusing(); err != nil {
		out.Refusing = err.Error()
	}
	now := s.now()
	if !status.Started.IsZero() {
		out.UptimeSeconds = int64(now.Sub(status.Started).Seconds())
	}
	if st.OldestQueue != "" {
		out.OldestQueuedAgeSeconds = max(0, int64(now.Sub(st.QueuedSince).Seconds()))
	}
	return out, nil
}
