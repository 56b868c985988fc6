package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// env is an admin server on a real store and scheduler, served by
// httptest on loopback.
type env struct {
	t     testing.TB
	st    *store.Store
	sched *actions.Scheduler
	acfg  *actions.Config
	srv   *Server
	ts    *httptest.Server

	mu         sync.Mutex
	status     Status
	rejections []listener.Rejection
	clock      time.Time // zero: the real clock
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// exec makes an exec action running sh -c script.
func exec(hook, name, when, script string) *actions.Action {
	a := &actions.Action{
		Hook: hook, Name: name, Concurrency: 1, Timeout: 10 * time.Second, Backoff: time.Hour,
		Run: []*tmpl.Template{tmpl.MustParse("run", "sh"), tmpl.MustParse("run", "-c"), tmpl.MustParse("run", script)},
	}
	if when != "" {
		e, err := tmpl.Compile(when)
		if err != nil {
			panic(err)
		}
		a.When = e
	}
	return a
}

func newEnv(t *testing.T, token string, acts ...*actions.Action) *env {
	t.Helper()
	return newEnvTB(t, token, acts...)
}

func newEnvTB(t testing.TB, token string, acts ...*actions.Action) *env {
	t.Helper()
	e := &env{t: t, status: Status{Version: "test", Started: time.Now(), ConfigFile: "/etc/webhookd/webhookd.toml"}}
	log := slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(filepath.Join(t.TempDir(), "test.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		st.Close()
	})
	for _, a := range acts {
		if a.Dir == "" {
			a.Dir = t.TempDir()
		}
	}
	e.st = st
	e.acfg = actions.NewConfig(acts)
	e.sched = actions.New(actions.Options{Store: st, Logger: log, TempDir: t.TempDir()}, e.acfg)
	if err := e.sched.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sched.Close() })
	var tok []byte
	if token != "" {
		tok = []byte(token)
	}
	e.srv = New(Options{
		Addr: "127.0.0.1:0", Token: tok, Store: st, Scheduler: e.sched, Logger: log,
		Status:     func() Status { e.mu.Lock(); defer e.mu.Unlock(); return e.status },
		Rejections: func() []listener.Rejection { e.mu.Lock(); defer e.mu.Unlock(); return e.rejections },
		Metrics:    NewMetrics(st, nil),
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.clock.IsZero() {
				return time.Now()
			}
			return e.clock
		},
	})
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)
	return e
}

// ingest stores an event of hook as the listener would, planning its jobs.
func (e *env) ingest(hook, event, body string) string {
	e.t.Helper()
	d := &tmpl.Data{Hook: hook, Event: event, ContentType: "application/json", Body: []byte(body),
		Headers: map[string]string{"x-github-event": event}, Received: time.Now()}
	res, err := e.st.Ingest(context.Background(), &store.NewEvent{
		Hook: hook, Type: event, Received: d.Received, Remote: "192.0.2.7", ContentType: "application/json",
		Header: http.Header{"X-Github-Event": {event}, "Content-Type": {"application/json"}},
		Body:   []byte(body), Jobs: e.acfg.Plan(hook, d),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.ID
}

// call makes a request and decodes a JSON answer into out (if not nil).
func (e *env) call(method, path, token string, out any) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return res.StatusCode, string(b)
}

func (e *env) event(id string) *EventJSON {
	e.t.Helper()
	var ev EventJSON
	if code, body := e.call("GET", "/api/events/"+id, "", &ev); code != 200 {
		e.t.Fatalf("GET event %s = %d %s", id, code, body)
	}
	return &ev
}

// waitState waits until the event's jobs are in the given states.
func (e *env) waitState(id string, want ...store.State) *EventJSON {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := e.event(id)
		var got []store.State
		for _, j := range ev.Jobs {
			got = append(got, j.State)
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return ev
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("event %s: job states %v; want %v", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPI_Events(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", `payload.ref == "refs/heads/main"`, "echo deployed"))
	var ids []string
	for i := range 5 {
		ref := "refs/heads/dev"
		if i%2 == 0 {
			ref = "refs/heads/main"
		}
		ids = append(ids, e.ingest("site", "push", fmt.Sprintf(`{"ref":%q,"n":%d}`, ref, i)))
	}
	other := e.ingest("other", "ping", `{}`)
	for i, id := range ids {
		if i%2 == 0 {
			e.waitState(id, store.Succeeded)
		}
	}

	// Pages of two, newest first, with a cursor.
	var all []string
	for cursor, pages := "", 0; ; pages++ {
		var list EventListJSON
		q := url.Values{"limit": {"2"}, "hook": {"site"}}
		if cursor != "" {
			q.Set("before", cursor)
		}
		if code, body := e.call("GET", "/api/events?"+q.Encode(), "", &list); code != 200 {
			t.Fatalf("list = %d %s", code, body)
		}
		if len(list.Events) > 2 || pages > 5 {
			t.Fatalf("page of %d events (page %d)", len(list.Events), pages)
		}
		for _, ev := range list.Events {
			all = append(all, ev.ID)
			if ev.Hook != "site" || len(ev.Jobs) != 1 || ev.Headers != nil || ev.Payload != nil {
				t.Errorf("summary %+v: want hook site, 1 job, no headers or payload", ev)
			}
		}
		if list.Next == "" {
			break
		}
		cursor = list.Next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("paged ids = %v; want %v", all, want)
	}

	var skipped EventListJSON
	e.call("GET", "/api/events?state=skipped", "", &skipped)
	if len(skipped.Events) != 3 { // two dev pushes, and the event of a hook without actions
		t.Fatalf("state=skipped: %d events; want 3", len(skipped.Events))
	}
	if j := skipped.Events[1].Jobs[0]; j.State != store.Skipped || !strings.Contains(j.Reason, `refs/heads/dev`) {
		t.Errorf("skipped job = %+v; want the when's reason naming the ref", j)
	}
	if skipped.Events[0].ID != other || len(skipped.Events[0].Jobs) != 0 {
		t.Errorf("newest skipped = %+v; want the other hook's event with no jobs", skipped.Events[0])
	}

	for _, q := range []string{"state=bogus", "state=failed", "limit=0", "limit=501", "limit=x", "before=nope", "since=yesterday"} {
		code, body := e.call("GET", "/api/events?"+q, "", nil)
		if code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /api/events?%s = %d %s; want 400 with an error", q, code, body)
		}
	}
	var recent EventListJSON
	e.call("GET", "/api/events?since=1h", "", &recent)
	if len(recent.Events) != 6 {
		t.Errorf("since=1h: %d events; want 6", len(recent.Events))
	}
	e.call("GET", "/api/events?until="+url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), "", &recent)
	if len(recent.Events) != 0 {
		t.Errorf("until an hour ago: %d events; want 0", len(recent.Events))
	}
}

func TestAPI_Event(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "echo out; echo err >&2"), exec("site", "dev", `payload.ref == "refs/heads/dev"`, "true"))
	id := e.ingest("site", "push", `{"ref":"refs/heads/main","after":"abc"}`)
	ev := e.waitState(id, store.Succeeded, store.Skipped)
	if ev.Headers["X-Github-Event"] != "push" || ev.Remote != "192.0.2.7" {
		t.Errorf("event head = %+v", ev)
	}
	if p, _ := ev.Payload.(map[string]any); p["after"] != "abc" {
		t.Errorf("payload = %v", ev.Payload)
	}
	run := ev.Jobs[0].Runs
	if len(run) != 1 || run[0].Result != "succeeded" || run[0].Output != "out\nerr\n" || run[0].ExitCode == nil || *run[0].ExitCode != 0 {
		t.Errorf("runs = %+v", run)
	}
	if ev.Jobs[1].Reason == "" || len(ev.Jobs[1].Runs) != 0 {
		t.Errorf("skipped job = %+v", ev.Jobs[1])
	}
	for _, path := range []string{"/api/events/0000000000000000", "/api/events/nope", "/api/jobs/nope", "/api/nothing"} {
		if code, body := e.call("GET", path, "", nil); code != 404 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %s; want 404", path, code, body)
		}
	}
	var j JobJSON
	if code, _ := e.call("GET", "/api/jobs/"+ev.Jobs[0].ID, "", &j); code != 200 || j.Action != "deploy" || len(j.Runs) != 1 {
		t.Errorf("GET job = %d %+v", code, j)
	}
}

func TestAPI_ReplayRetryCancel(t *testing.T) {
	e := newEnv(t, "",
		exec("site", "fail", "", "echo attempt $WEBHOOKD_ATTEMPT; exit 3"),
		exec("site", "ok", "", "true"))
	id := e.ingest("site", "push", `{}`)
	ev := e.waitState(id, store.Dead, store.Succeeded)
	dead := ev.Jobs[0]
	if dead.Runs[0].Output != "attempt 1\n" || *dead.Runs[0].ExitCode != 3 {
		t.Errorf("dead job's run = %+v", dead.Runs[0])
	}

	// Retry runs the same job again.
	var rj JobJSON
	if code, body := e.call("POST", "/api/jobs/"+dead.ID+"/retry", "", &rj); code != 200 || rj.ID != dead.ID {
		t.Fatalf("retry = %d %s", code, body)
	}
	ev = e.waitState(id, store.Dead, store.Succeeded)
	if n := len(ev.Jobs[0].Runs); n != 2 || ev.Jobs[0].Runs[1].Output != "attempt 2\n" {
		t.Errorf("after retry: %d runs %+v; want a second attempt", n, ev.Jobs[0].Runs)
	}
	// A succeeded job cannot be retried: 409.
	if code, body := e.call("POST", "/api/jobs/"+ev.Jobs[1].ID+"/retry", "", nil); code != 409 || strings.Count(string(body), "retry job") != 1 {
		t.Errorf("retry of a succeeded job = %d %s; want 409, the job named once", code, body)
	}

	// Replay of one action adds one job; of all, one per action.
	var rep ReplayJSON
	if code, body := e.call("POST", "/api/events/"+id+"/replay?action=ok", "", &rep); code != 200 || len(rep.Jobs) != 1 || rep.Jobs[0].Action != "ok" {
		t.Fatalf("replay ok = %d %s", code, body)
	}
	e.waitState(id, store.Dead, store.Succeeded, store.Succeeded)
	if code, body := e.call("POST", "/api/events/"+id+"/replay?action=nope", "", nil); code != 409 {
		t.Errorf("replay of an unknown action = %d %s; want 409", code, body)
	}
	if code, _ := e.call("POST", "/api/events/0000000000000000/replay", "", nil); code != 404 {
		t.Errorf("replay of an unknown event = %d; want 404", code)
	}

	// Cancel: pause the action so a replayed job stays queued, cancel it.
	if code, body := e.call("POST", "/api/actions/site/ok/pause", "", nil); code != 200 {
		t.Fatalf("pause = %d %s", code, body)
	}
	e.call("POST", "/api/events/"+id+"/replay?action=ok", "", &rep)
	queued := rep.Jobs[0]
	if queued.State != store.Pending || !strings.Contains(queued.Held, "paused") {
		t.Errorf("replayed job while paused = %+v; want pending, held: paused", queued)
	}
	var cj JobJSON
	if code, body := e.call("POST", "/api/jobs/"+queued.ID+"/cancel", "", &cj); code != 200 || cj.State != store.Cancelled {
		t.Errorf("cancel = %d %s", code, body)
	}
	if code, _ := e.call("POST", "/api/jobs/"+queued.ID+"/cancel", "", nil); code != 409 {
		t.Errorf("second cancel = %d; want 409", code)
	}
	var jobs JobListJSON
	e.call("GET", "/api/jobs?state=cancelled", "", &jobs)
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].ID != queued.ID {
		t.Errorf("GET /api/jobs?state=cancelled = %+v", jobs)
	}
	if code, _ := e.call("GET", "/api/jobs", "", nil); code != 400 {
		t.Errorf("GET /api/jobs without a state = %d; want 400", code)
	}
}

func TestAPI_PauseResume(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "echo ran"))
	if code, _ := e.call("POST", "/api/actions/site/nope/pause", "", nil); code != 404 {
		t.Errorf("pause of an unknown action = %d; want 404", code)
	}
	if code, _ := e.call("POST", "/api/actions/site/nope/resume", "", nil); code != 404 {
		t.Errorf("resume of an unknown, unpaused action = %d; want 404", code)
	}
	var a ActionJSON
	if code, body := e.call("POST", "/api/actions/site/deploy/pause", "", &a); code != 200 || !a.Paused {
		t.Fatalf("pause = %d %s", code, body)
	}
	id := e.ingest("site", "push", `{}`)
	ev := e.waitState(id, store.Pending)
	if !strings.Contains(ev.Jobs[0].Held, "paused") {
		t.Errorf("held = %q; want paused", ev.Jobs[0].Held)
	}
	var acts struct{ Actions []ActionJSON }
	e.call("GET", "/api/actions", "", &acts)
	if len(acts.Actions) != 1 || !acts.Actions[0].Paused || !acts.Actions[0].InConfig {
		t.Errorf("actions = %+v", acts)
	}
	var st StatusJSON
	e.call("GET", "/api/status", "", &st)
	if fmt.Sprint(st.Paused) != "[site/deploy]" || st.Jobs[store.Pending] != 1 || st.Version != "test" {
		t.Errorf("status = %+v", st)
	}
	if code, _ := e.call("POST", "/api/actions/site/deploy/resume", "", &a); code != 200 || a.Paused {
		t.Errorf("resume = %d %+v", code, a)
	}
	e.waitState(id, store.Succeeded)
}

// A method an endpoint does not take is answered 405 with Allow, as
// net/http's mux and the public listener answer it, not taken by the
// catch-all for an endpoint that does not exist (404 would tell a client
// the daemon is too old for it). The token is checked first, as for any
// request; a path that is no endpoint stays 404.
func TestAPI_WrongMethod(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	id := e.ingest("site", "push", `{}`)
	job := e.eventAs(id, testToken).Jobs[0].ID
	b := newBrowser(e)
	b.hdr.Set("Authorization", "Bearer "+testToken)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/api/events/" + id + "/replay", "POST"},
		{"HEAD", "/api/events/" + id + "/replay", "POST"},
		{"PUT", "/api/events/" + id + "/replay", "POST"},
		{"GET", "/api/replay", "POST"},
		{"DELETE", "/api/replay", "POST"},
		{"GET", "/api/jobs/" + job + "/retry", "POST"},
		{"GET", "/api/jobs/" + job + "/cancel", "POST"},
		{"GET", "/api/actions/site/deploy/pause", "POST"},
		{"GET", "/api/actions/site/deploy/resume", "POST"},
		{"POST", "/api/status", "GET, HEAD"},
		{"POST", "/api/events", "GET, HEAD"},
		{"DELETE", "/api/events/" + id, "GET, HEAD"},
		{"POST", "/api/backup", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
	} {
		a := b.do(tc.method, tc.path, nil)
		if a.code != http.StatusMethodNotAllowed || a.hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", tc.method, tc.path, a.code, a.hdr.Get("Allow"), tc.allow)
		}
		if tc.method != "HEAD" && (!strings.HasPrefix(a.hdr.Get("Content-Type"), "application/json") || !strings.Contains(a.body, `"error"`)) {
			t.Errorf("%s %s answered %q, %s; want a JSON error", tc.method, tc.path, a.hdr.Get("Content-Type"), a.body)
		}
	}
	for _, path := range []string{"/api/nothing", "/api/events/" + id + "/nothing"} {
		for _, method := range []string{"GET", "POST"} {
			if a := b.do(method, path, nil); a.code != http.StatusNotFound {
				t.Errorf("%s %s = %d; want 404", method, path, a.code)
			}
		}
	}
	if code, _ := e.call("GET", "/api/replay", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/replay without the token = %d; want 401", code)
	}
}

func TestAPI_Rejections(t *testing.T) {
	e := newEnv(t, "")
	var empty struct{ Rejections []listener.Rejection }
	if code, body := e.call("GET", "/api/rejections", "", &empty); code != 200 || empty.Rejections == nil || len(empty.Rejections) != 0 {
		t.Errorf("no rejections = %d %s; want an empty list", code, body)
	}
	e.mu.Lock()
	e.rejections = []listener.Rejection{{Time: time.Now(), Hook: "site", Path: "/hooks/site", Remote: "192.0.2.1", Status: 401, Check: "mismatch", Reason: "signature does not match: X-Hub-Signature-256"}}
	e.mu.Unlock()
	var got struct{ Rejections []listener.Rejection }
	e.call("GET", "/api/rejections", "", &got)
	if len(got.Rejections) != 1 || got.Rejections[0].Check != "mismatch" {
		t.Errorf("rejections = %+v", got)
	}
}

func readBulk(t *testing.T, body string) (total int, evs []BulkEvent, done *BulkDone) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	for {
		var l BulkLine
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("bulk line: %v in %q", err, body)
		}
		switch {
		case l.Total != nil:
			total = *l.Total
		case l.Event != nil:
			evs = append(evs, *l.Event)
		case l.Done != nil:
			done = l.Done
		case l.Error != "":
			t.Fatalf("bulk error line: %s", l.Error)
		}
	}
	return total, evs, done
}

func TestAPI_BulkReplay(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", `payload.ok == false`, "echo n=$N; exit 1"))
	var ids []string
	for i := range 5 {
		ids = append(ids, e.ingest("site", "push", fmt.Sprintf(`{"ok":%v,"n":%d}`, i == 2, i)))
	}
	for i, id := range ids {
		if i == 2 {
			e.waitState(id, store.Skipped)
		} else {
			e.waitState(id, store.Dead)
		}
	}
	if code, body := e.call("POST", "/api/replay", "", nil); code != 400 {
		t.Errorf("bulk replay without a filter = %d %s; want 400", code, body)
	}

	code, body := e.call("POST", "/api/replay?hook=site&state=dead&dry_run=true", "", nil)
	total, evs, done := readBulk(t, body)
	if code != 200 || total != 4 || len(evs) != 4 || done == nil || !done.DryRun || done.Replayed != 0 {
		t.Fatalf("dry run = %d: total %d, %d events, done %+v", code, total, len(evs), done)
	}
	// Oldest first: the order they arrived in.
	if evs[0].ID != ids[0] || evs[3].ID != ids[4] {
		t.Errorf("dry run order = %v", evs)
	}
	if n := len(e.event(ids[0]).Jobs); n != 1 {
		t.Errorf("dry run queued jobs: %d; want 1", n)
	}

	_, body = e.call("POST", "/api/replay?state=dead&since=1h", "", nil)
	total, evs, done = readBulk(t, body)
	if total != 4 || done == nil || done.Replayed != 4 || done.Jobs != 4 || done.Failed != 0 {
		t.Fatalf("bulk replay: total %d, done %+v", total, done)
	}
	for _, id := range []string{ids[0], ids[1], ids[3], ids[4]} {
		ev := e.waitState(id, store.Dead, store.Dead)
		if ev.Jobs[1].Created.Before(ev.Jobs[0].Created) {
			t.Errorf("event %s: replayed job older than the first", id)
		}
	}
	// New jobs were created oldest event first.
	var prev string
	for _, id := range []string{ids[0], ids[1], ids[3], ids[4]} {
		j := e.event(id).Jobs[1].ID
		if j <= prev {
			t.Errorf("replayed job %s of event %s is not after %s: replay not in arrival order", j, id, prev)
		}
		prev = j
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	m := e.srv.opts.Metrics
	m.ObserveRequest(listener.RequestInfo{Hook: "site", Status: 202, Duration: time.Millisecond, EventID: "x"})
	m.ObserveRequest(listener.RequestInfo{Hook: "site", Status: 401, Check: "mismatch"})
	m.ObserveCommit(store.CommitInfo{Ops: 3, Events: 2, Duration: time.Millisecond})
	m.ObserveRun(actions.RunInfo{Hook: "site", Action: "deploy", Result: "succeeded", Duration: time.Second})
	m.ObserveReload(false)
	e.ingest("site", "push", `{}`)
	_, body := e.call("GET", "/metrics", "", nil)
	for _, want := range []string{
		`webhookd_requests_total{hook="site",status="202"} 1`,
		`webhookd_verification_failures_total{check="mismatch",hook="site"} 1`,
		`webhookd_ingest_seconds_count 1`,
		`webhookd_store_commits_total{result="ok"} 1`,
		`webhookd_store_commit_seconds_count 1`,
		`webhookd_store_events_per_commit_sum 2`,
		`webhookd_action_runs_total{action="deploy",hook="site",result="succeeded"} 1`,
		`webhookd_action_run_seconds_count{action="deploy",hook="site"} 1`,
		`webhookd_config_reloads_total{result="error"} 1`,
		`webhookd_config_last_reload_successful 0`,
		`webhookd_jobs{state="succeeded"}`,
		`webhookd_oldest_queued_job_age_seconds`,
		`webhookd_events 1`,
		`webhookd_database_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	m.ObserveReload(true)
	_, body = e.call("GET", "/metrics", "", nil)
	if !strings.Contains(body, "webhookd_config_last_reload_successful 1") {
		t.Error("a good reload does not set webhookd_config_last_reload_successful to 1")
	}
}

var _ = bytes.NewReader

// TestOpen_UnixSocket: the admin socket is at its path with mode 0660 (a
// stale one replaced), Addr names that path, and Close removes it; a file
// there that is not a socket is left alone.
func TestOpen_UnixSocket(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "admin.sock")
	for round := range 2 { // the second replaces the first's stale socket
		s := New(Options{Addr: "unix:" + p})
		if err := s.Open(); err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
			t.Errorf("round %d: %s is %v, %v; want a socket of mode 0660", round, p, fi.Mode(), err)
		}
		if s.Addr() != "unix:"+p {
			t.Errorf("Addr = %q; want unix:%s", s.Addr(), p)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("the directory holds %d entries; want the socket alone", len(entries))
		}
		if round == 0 {
			// A daemon killed: its socket file stays, stale.
			s.ln.(*unixListener).UnixListener.Close()
			continue
		}
		s.ln.Close()
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("after Close: %v; want the socket gone", err)
		}
	}
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := New(Options{Addr: "unix:" + p}).Open(); err == nil {
		t.Error("Open over a regular file = nil; want an error")
	}
}

// TestOpen_UnixSocketLongPath: a socket path near the length limit, which
// binds by itself, still opens (the private directory would make it too
// long).
func TestOpen_UnixSocketLongPath(t *testing.T) {
	for _, n := range []int{100, 104, 107} { // Linux's limit is 107 bytes
		dir := t.TempDir()
		pad := n - len(dir) - len("/a.sock") - 1
		if pad < 1 {
			t.Skipf("temp dir %s too long for the test", dir)
		}
		sub := filepath.Join(dir, strings.Repeat("d", pad))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "a.sock")
		s := New(Options{Addr: "unix:" + p})
		if err := s.Open(); err != nil {
			t.Errorf("Open(unix:%s), a path of %d bytes: %v", p, len(p), err)
			continue
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o660 {
			t.Errorf("%s: %v, %v; want a socket of mode 0660", p, fi.Mode(), err)
		}
		s.ln.Close()
	}
}

// TestAPI_DeepPayload: a payload nested thousands deep (a few KB) is shown
// as its body, not parsed and indented, whose size grows with the square
// of the depth; a payload of ordinary depth is shown parsed.
func TestAPI_DeepPayload(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	body := `{"a":[` + deep + `,` + deep + `]}`
	id := e.ingest("site", "push", body)
	code, resp := e.call("GET", "/api/events/"+id, testToken, nil)
	if code != 200 || len(resp) > 4*len(body)+64<<10 {
		t.Errorf("GET /api/events/%s = %d, %d bytes for a %d-byte body", id, code, len(resp), len(body))
	}
	code, page := e.call("GET", "/events/"+id, testToken, nil)
	if code != 200 || len(page) > 4*len(body)+64<<10 {
		t.Errorf("GET /events/%s = %d, %d bytes for a %d-byte body", id, code, len(page), len(body))
	}
	// Not deep, but long and many levels down: its indentation would be
	// its length times its depth.
	inner := strings.TrimSuffix(strings.Repeat("0,", 100000), ",")
	body = `{"a":` + strings.Repeat("[", 60) + inner + strings.Repeat("]", 60) + `}`
	id = e.ingest("site", "push", body)
	for _, path := range []string{"/api/events/" + id, "/events/" + id} {
		if code, resp := e.call("GET", path, testToken, nil); code != 200 || len(resp) > 4*len(body)+64<<10 {
			t.Errorf("GET %s = %d, %d bytes for a %d-byte body", path, code, len(resp), len(body))
		}
	}
	var ev EventJSON
	id = e.ingest("site", "push", `{"a":{"b":[1,2]}}`)
	if code, _ := e.call("GET", "/api/events/"+id, testToken, &ev); code != 200 || ev.Payload == nil {
		t.Errorf("an ordinary payload: %d, payload %v; want it parsed", code, ev.Payload)
	}
}

// Serve and Shutdown run in different goroutines (main.go): Serve returns
// nil after a shutdown, whichever comes first (and -race finds nothing).
func TestServer_ShutdownBeforeServe(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 50 {
		s := New(Options{Addr: "127.0.0.1:0", Store: st})
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Fatalf("round %d: Serve after Shutdown = %v; want nil", i, err)
		}
	}
}

// A daemon whose Shutdown waits for a request in flight (a bulk replay)
// has let go of its unix socket; another daemon binds the path meanwhile.
// The first one's Shutdown, when it ends, must not remove that socket.
func TestServer_ShutdownLeavesAnotherDaemonsSocket(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "admin.sock")
	a := New(Options{Addr: "unix:" + p})
	if err := a.Open(); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	inner := a.srv.Handler
	a.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" { // a request in flight, as a bulk replay
			close(entered)
			<-release
			return
		}
		inner.ServeHTTP(w, r)
	})
	go a.Serve()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", p)
	}}}
	go func() {
		if res, err := client.Get("http://localhost/slow"); err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- a.Shutdown(ctx)
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			break // a's listener is closed, its path removed
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket was never removed")
		}
	}
	b := New(Options{Addr: "unix:" + p}) // the next daemon starts
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	go b.Serve()
	defer b.Shutdown(context.Background())
	close(release)
	<-done
	if _, err := os.Stat(p); err != nil {
		t.Errorf("the other daemon's socket after the first one's Shutdown: %v; want it there", err)
	}
	if c, err := net.Dial("unix", p); err != nil {
		t.Errorf("dial the other daemon: %v", err)
	} else {
		c.Close()
	}
}

// TestAPI_EventsBudget: a listing whose filter matches none of many
// events answers once its time is up, with no events and the cursor to
// go on from, instead of looking at every event first: on a Pi, looking
// at the 200,000 a page may look at takes longer than `webhookd events`
// waits for an answer to begin (10s), which it then reported as a stuck
// daemon. Following the cursors still reaches every event.
func TestAPI_EventsBudget(t *testing.T) {
	e := newEnv(t, "")
	const n = 1000
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				if _, err := e.st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: time.Now(), Body: []byte(`{}`)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	old := listBudget
	listBudget = 0 // up before the look begins
	t.Cleanup(func() { listBudget = old })

	var list EventListJSON
	if code, body := e.call("GET", "/api/events?state=running", "", &list); code != 200 {
		t.Fatalf("list = %d %s", code, body)
	}
	if len(list.Events) != 0 || list.Next == "" {
		t.Fatalf("first page: %d events, next %q; want none, and a cursor to the events not looked at", len(list.Events), list.Next)
	}
	// Every event, page by page, newest first.
	var seen []string
	for cursor, pages := "", 0; ; pages++ {
		if pages > n {
			t.Fatalf("more than %d pages", n)
		}
		q := url.Values{"hook": {"site"}, "limit": {"500"}}
		if cursor != "" {
			q.Set("before", cursor)
		}
		var page EventListJSON
		if code, body := e.call("GET", "/api/events?"+q.Encode(), "", &page); code != 200 {
			t.Fatalf("list = %d %s", code, body)
		}
		for _, ev := range page.Events {
			seen = append(seen, ev.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != n {
		t.Fatalf("the pages listed %d events; want %d", len(seen), n)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("event %d (%s) is not older than the one before it (%s)", i, seen[i], seen[i-1])
		}
	}
}

// TestAPI_ListingsRefuseUnknownParams: a misspelt filter or cursor on a
// listing is a 400 naming it. Ignored, befor= gave the first page again
// (paging through it repeated the newest events for ever), and sate=dead
// listed every event as if they matched.
func TestAPI_ListingsRefuseUnknownParams(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	var ids []string
	for range 3 {
		ids = append(ids, e.ingest("site", "push", `{}`))
	}
	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"events", "/api/events?hook=site&limit=1&before=" + ids[2], 200},
		{"events, misspelt cursor", "/api/events?hook=site&limit=1&befor=" + ids[2], 400},
		{"events, misspelt filter", "/api/events?sate=dead", 400},
		{"jobs", "/api/jobs?state=pending&limit=1&after=" + ids[0], 200},
		{"jobs, misspelt cursor", "/api/jobs?state=pending&limit=1&afer=" + ids[0], 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call("GET", tc.path, "", nil)
			if code != tc.code {
				t.Fatalf("GET %s = %d %s; want %d", tc.path, code, body, tc.code)
			}
			if code == 400 && !strings.Contains(body, "unknown parameter") {
				t.Errorf("GET %s = %s; want it to name the unknown parameter", tc.path, body)
			}
		})
	}
}

// GET /api/jobs without a state says the state is required, with the
// states to choose from: it said `state "": want one of ...`.
func TestAPI_JobsWithoutState(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	code, body := e.call("GET", "/api/jobs", "", nil)
	if code != 400 || !strings.Contains(body, "state is required") || !strings.Contains(body, "pending") {
		t.Errorf("GET /api/jobs = %d %s; want 400 saying the state is required, and which", code, body)
	}
}

// TestAPI_ActionsShowsHeldByReload: an action a reload took out of the
// config while it had queued jobs is listed by /api/actions and the
// status page, not in the config and holding queued jobs: the queue's
// counts went on showing them, and the oldest queued job's age grew, with
// no action to be seen that they belonged to.
func TestAPI_ActionsShowsHeldByReload(t *testing.T) {
	deploy := exec("site", "deploy", "", "exit 3")
	deploy.Retries = 2 // failed, and waits an hour for its retry
	notify := exec("site", "notify", "", "true")
	e := newEnv(t, "", deploy, notify)
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Failed, store.Succeeded)
	e.sched.SetConfig(actions.NewConfig([]*actions.Action{notify}))

	var got struct{ Actions []ActionJSON }
	if code, body := e.call("GET", "/api/actions", "", &got); code != 200 {
		t.Fatalf("GET /api/actions = %d %s", code, body)
	}
	want := ActionJSON{Hook: "site", Action: "deploy", InConfig: false, Queued: true}
	if !slices.Contains(got.Actions, want) {
		t.Errorf("GET /api/actions = %+v; want it to list %+v", got.Actions, want)
	}
	if slices.ContainsFunc(got.Actions, func(a ActionJSON) bool { return a.Action == "notify" && a.Queued }) {
		t.Errorf("GET /api/actions = %+v: notify has no queued job", got.Actions)
	}
	_, page := e.call("GET", "/status", "", nil)
	if !strings.Contains(page, "site/deploy") || !strings.Contains(page, "queued jobs held until it returns") {
		t.Errorf("the status page does not show site/deploy holding queued jobs:\n%s", page)
	}
	for _, path := range []string{"/status", "/events/" + id} {
		_, page := e.call("GET", path, "", nil)
		if strings.Contains(page, "/actions/site/deploy/pause") {
			t.Errorf("%s offers to pause site/deploy, which the config does not have (a 404)", path)
		}
	}
}
