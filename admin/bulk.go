package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/store"
)

// A bulk replay (POST /api/replay) replays every event that matches a
// filter, oldest first (so an action with concurrency = 1 runs them in the
// order they arrived), reading the store a page at a time. Its answer is
// a stream of JSON lines (application/x-ndjson), so a client can show
// progress: first {"total": N}, the events that match (the status and
// headers go out before the count, which can take a while, and while it
// counts, a {"counted": N} line of each page of it that more follow, so
// that the client hears from it); then one
// {"event": {...}} per event, replayed (with dry_run, nothing is written:
// the line says what its replay would do), and an {"at": ID} line of each
// page of the walk that more follow (a page may match none of the events
// it looks at); last {"done": {...}}. A stream without its done line was cut off.

// BulkLine is one line of a bulk replay's answer.
type BulkLine struct {
	// Counted is how many events matched so far, while they are counted
	// (a line of each page of the count that more follow), before Total.
	Counted *int       `json:"counted,omitempty"`
	Total   *int       `json:"total,omitempty"`
	Event   *BulkEvent `json:"event,omitempty"`
	Done    *BulkDone  `json:"done,omitempty"`
	// At is the event the walk has looked at up to, a line of each page of
	// it that more follow (the page may have matched none).
	At string `json:"at,omitempty"`
	// Error, on a line of its own, stopped the walk.
	Error string `json:"error,omitempty"`
}

// BulkEvent is one event of a bulk replay.
type BulkEvent struct {
	ID       string      `json:"id"`
	Hook     string      `json:"hook"`
	Type     string      `json:"event,omitempty"`
	Received time.Time   `json:"received"`
	State    store.State `json:"state"`
	// Jobs is how many jobs the replay queued to run (in a dry run, would
	// queue): actions whose when is now false are recorded as skipped, not
	// counted. Error says why the event was not (would not be) replayed.
	Jobs  int    `json:"jobs"`
	Error string `json:"error,omitempty"`
}

// BulkDone sums a bulk replay up.
type BulkDone struct {
	Matched  int  `json:"matched"`
	Replayed int  `json:"replayed"`
	Failed   int  `json:"failed"`
	Jobs     int  `json:"jobs"`
	DryRun   bool `json:"dry_run,omitempty"`
}

// bulkPage is how many events one store read returns.
const bulkPage = 200

// POST /api/replay?hook=&state=&since=&until=&action=&dry_run=
func (s *Server) apiBulkReplay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	err := onlyParams(q, "hook", "state", "since", "until", "before", "action", "dry_run")
	var f store.EventFilter
	if err == nil {
		f, err = parseEventFilter(q, s.now())
	}
	if err == nil && f.Hook == "" && f.State == "" && f.Since == "" && f.Before == "" {
		err = badRequest("a bulk replay needs a filter: hook, state, since or until")
	}
	dry := false
	if v := q.Get("dry_run"); v != "" && err == nil {
		if dry, err = strconv.ParseBool(v); err != nil {
			err = badRequest("dry_run %q: want true or false", v)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	f.Limit = bulkPage
	action := q.Get("action")
	// The events stored now: one that arrives meanwhile has its jobs
	// queued already, and is neither counted nor replayed.
	end, err := s.opts.Store.EventsEnd()
	if err != nil {
		writeError(w, err)
		return
	}
	if f.Before == "" || end < f.Before {
		f.Before = end
	}

	// The answer begins before the count: counting reads every event
	// that matches, which on a large database takes longer than a client
	// waits for an answer to begin (`webhookd replay`, 10s). An error from
	// here on is a line of the stream.
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)

	// Count first, so the client can show how far along it is.
	total := 0
	for after := ""; ; {
		evs, next, err := s.opts.Store.ScanEvents(f, after)
		if err != nil {
			enc.Encode(BulkLine{Error: err.Error()})
			return
		}
		total += len(evs)
		if next == "" {
			break
		}
		// A page looks at up to 200,000 events: on a large database the
		// count takes minutes, which a client that bounds its waits
		// (webhookd replay) must not take for a stuck daemon.
		enc.Encode(BulkLine{Counted: &total})
		rc.Flush()
		after = next
	}
	enc.Encode(BulkLine{Total: &total})
	rc.Flush()

	done := BulkDone{DryRun: dry}
	lastFlush := time.Now()
	for after := ""; ; {
		evs, next, err := s.opts.Store.ScanEvents(f, after)
		if err != nil {
			enc.Encode(BulkLine{Error: err.Error()})
			return
		}
		for _, v := range evs {
			if r.Context().Err() != nil {
				return // the client went away
			}
			be := &BulkEvent{ID: v.ID, Hook: v.Hook, Type: v.Type, Received: v.Received, State: v.State}
			done.Matched++
			if dry {
				jobs, err := s.opts.Scheduler.ReplayPlan(v.ID, action)
				if err != nil {
					be.Error = err.Error()
					done.Failed++
				}
				for _, j := range jobs {
					if j.Skip == "" && j.Fail == "" {
						be.Jobs++ // would be queued to run
					}
				}
				done.Jobs += be.Jobs
			} else {
				jobs, err := s.opts.Scheduler.Replay(r.Context(), v.ID, action)
				if err != nil {
					be.Error = err.Error()
					done.Failed++
				} else {
					for _, j := range jobs {
						if j.State == store.Pending {
							be.Jobs++ // queued to run (not skipped by its when)
						}
					}
					done.Replayed++
					done.Jobs += be.Jobs
				}
			}
			enc.Encode(BulkLine{Event: be})
			if time.Since(lastFlush) > 100*time.Millisecond {
				rc.Flush()
				lastFlush = time.Now()
			}
		}
		if next == "" {
			break
		}
		// A page can match none of the up to 200,000 events it looks at:
		// the client hears from the walk all the same.
		enc.Encode(BulkLine{At: next})
		rc.Flush()
		lastFlush = time.Now()
		after = next
	}
	s.log.Info("bulk replay", "hook", f.Hook, "state", f.State, "action", action, "dry_run", dry,
		"matched", done.Matched, "replayed", done.Replayed, "failed", done.Failed)
	enc.Encode(BulkLine{Done: &done})
}
