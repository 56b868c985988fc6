package admin

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// EventJSON is an event as the API shows it.
type EventJSON struct {
	ID          string            `json:"id"`
	Hook        string            `json:"hook"`
	Event       string            `json:"event,omitempty"`
	Delivery    string            `json:"delivery,omitempty"`
	Received    time.Time         `json:"received"`
	Remote      string            `json:"remote,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Size        int               `json:"size"`
	State       store.State       `json:"state"`
	Headers     map[string]string `json:"headers,omitempty"`
	Query       string            `json:"query,omitempty"`
	// Payload is the parsed body; Body is the body as text when it is not
	// JSON or a form.
	Payload any       `json:"payload,omitempty"`
	Body    string    `json:"body,omitempty"`
	Jobs    []JobJSON `json:"jobs"`
}

// JobJSON is a job as the API shows it.
type JobJSON struct {
	*store.Job
	// Held says why a queued job does not start ("" if it can).
	Held string    `json:"held,omitempty"`
	Runs []RunJSON `json:"runs,omitempty"`
}

// RunJSON is a run as the API shows it.
type RunJSON struct {
	*store.Run
	DurationMS int64  `json:"duration_ms"`
	Output     string `json:"output,omitempty"`
}

func (s *Server) eventJSON(ev *store.Event) (*EventJSON, error) {
	jobs, err := s.opts.Store.Jobs(ev)
	if err != nil {
		return nil, err
	}
	out := &EventJSON{
		ID: ev.ID, Hook: ev.Hook, Event: ev.Type, Delivery: ev.Delivery, Received: ev.Received,
		Remote: ev.Remote, ContentType: ev.ContentType, Size: ev.Size, State: store.EventState(jobs),
		Query: ev.Query, Jobs: []JobJSON{},
	}
	if ev.Header != nil {
		out.Headers = map[string]string{}
		keys := make([]string, 0, len(ev.Header))
		for k := range ev.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out.Headers[k] = http.Header(ev.Header).Get(k)
		}
		if p := tmpl.ParsePayload(ev.ContentType, ev.Body); p != nil {
			out.Payload = p
		} else if len(ev.Body) > 0 {
			out.Body = string(ev.Body)
		}
	}
	for _, j := range jobs {
		jj, err := s.jobJSON(j, true)
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, jj)
	}
	return out, nil
}

func (s *Server) jobJSON(j *store.Job, runs bool) (JobJSON, error) {
	out := JobJSON{Job: j}
	if j.State == store.Pending || j.State == store.Failed {
		out.Held = s.opts.Scheduler.Held(j.Hook, j.Action)
	}
	if runs {
		rs, err := s.opts.Store.Runs(j.ID)
		if err != nil {
			return out, err
		}
		for _, r := range rs {
			out.Runs = append(out.Runs, RunJSON{Run: r, DurationMS: r.Duration().Milliseconds(), Output: string(r.Output)})
		}
	}
	return out, nil
}

// MarshalJSON hides the raw output bytes: RunJSON shows them as text.
func (r RunJSON) MarshalJSON() ([]byte, error) {
	type run store.Run
	type view struct {
		*run
		Output     string `json:"output,omitempty"`
		DurationMS int64  `json:"duration_ms"`
	}
	return json.Marshal(view{run: (*run)(r.Run), Output: r.Output, DurationMS: r.DurationMS})
}
