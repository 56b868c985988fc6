package admin

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// flushHook is a response writer that runs fn at its first flush: the
// moment a bulk replay's answer begins, before it counts and replays.
type flushHook struct {
	*httptest.ResponseRecorder
	fn func()
}

func (f *flushHook) Flush() {
	if fn := f.fn; fn != nil {
		f.fn = nil
		fn()
	}
	f.ResponseRecorder.Flush()
}

// A bulk replay replays the events that matched when it was asked for.
// An event that arrives while it walks (deliveries go on) has its own
// jobs queued already: replayed too, its actions ran twice, and the
// stream counted more events than its total.
func TestAPI_BulkReplayIgnoresNewArrivals(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	old := []string{e.ingest("site", "push", `{}`), e.ingest("site", "push", `{}`)}
	for _, id := range old {
		e.waitState(id, store.Succeeded)
	}
	var late string
	w := &flushHook{ResponseRecorder: httptest.NewRecorder(), fn: func() {
		late = e.ingest("site", "push", `{}`) // queued with its job
	}}
	req := httptest.NewRequest("POST", "/api/replay?hook=site&since=1h", nil)
	req.Host = "127.0.0.1"
	e.srv.ServeHTTP(w, req)
	total, evs, done := readBulk(t, w.Body.String())
	if total != 2 || len(evs) != 2 || done == nil || done.Matched != 2 || done.Replayed != 2 {
		t.Errorf("bulk replay: total %d, %d events %+v, done %+v; want the 2 events that matched at the start", total, len(evs), evs, done)
	}
	for _, ev := range evs {
		if ev.ID == late {
			t.Errorf("the event that arrived during the replay was replayed")
		}
	}
	if n := len(e.event(late).Jobs); n != 1 {
		t.Errorf("the event that arrived during the replay has %d jobs; want its own 1", n)
	}
	for _, id := range old {
		e.waitState(id, store.Succeeded, store.Succeeded)
	}
}

// A dry run says what the replay would do: each event's jobs that would
// be queued to run, and the error of one that could not be replayed. It
// listed every event with 0 jobs and no error, so a dry run of an action
// the config does not have (a typo) promised a replay that then failed
// for every event.
func TestAPI_BulkReplayDryRunSaysWhatWouldHappen(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "exit 1"), exec("site", "dev", `payload.ref == "dev"`, "true"))
	ids := []string{e.ingest("site", "push", `{"ref":"dev"}`), e.ingest("site", "push", `{"ref":"main"}`)}
	e.waitState(ids[0], store.Dead, store.Succeeded)
	e.waitState(ids[1], store.Dead, store.Skipped)

	req := httptest.NewRequest("POST", "/api/replay?hook=site&dry_run=true", nil)
	req.Host = "127.0.0.1"
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	_, evs, done := readBulk(t, w.Body.String())
	if len(evs) != 2 || evs[0].Jobs != 2 || evs[1].Jobs != 1 || done == nil || done.Jobs != 3 || done.Failed != 0 || done.Replayed != 0 {
		t.Errorf("dry run: events %+v, done %+v; want 2 and 1 jobs that would run, 3 in all, none replayed", evs, done)
	}

	req = httptest.NewRequest("POST", "/api/replay?hook=site&action=deplyo&dry_run=true", nil)
	req.Host = "127.0.0.1"
	w = httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	_, evs, done = readBulk(t, w.Body.String())
	if len(evs) != 2 || evs[0].Error == "" || done == nil || done.Failed != 2 || done.Jobs != 0 {
		t.Errorf("dry run of an action the config does not have: events %+v, done %+v; want each event's error, 2 failed", evs, done)
	}
	for _, id := range ids {
		if n := len(e.event(id).Jobs); n != 2 {
			t.Errorf("event %s has %d jobs after dry runs; want 2", id, n)
		}
	}
}

// A replay takes the parameters it knows, and refuses another: a
// misspelt filter (sate=dead) was ignored, and the replay took every
// event of the hook, the dead and the succeeded alike; a misspelt
// actoin= replayed every action of the event.
func TestAPI_ReplayRefusesUnknownParameters(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"), exec("site", "tell", "", "true"))
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Succeeded, store.Succeeded)
	for _, path := range []string{
		"/api/replay?hook=site&sate=dead",
		"/api/replay?hook=site&state=dead&dryrun=true",
		"/api/events/" + id + "/replay?actoin=deploy",
	} {
		code, body := e.call("POST", path, "", nil)
		if code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("POST %s = %d %s; want 400", path, code, body)
		}
	}
	if n := len(e.event(id).Jobs); n != 2 {
		t.Errorf("the event has %d jobs; want its 2, none replayed", n)
	}
}

// A bulk replay's answer begins (status and headers, flushed) before it
// counts the events that match: counting reads every one of them, which
// on a large database takes longer than `webhookd replay` waits for an
// answer to begin, and it gave up on a replay that was under way.
func TestAPI_BulkReplayAnswersBeforeItCounts(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Succeeded)
	var code, before int
	var ctype string
	w := &flushHook{ResponseRecorder: httptest.NewRecorder()}
	w.fn = func() {
		code, ctype, before = w.Code, w.Header().Get("Content-Type"), w.Body.Len()
	}
	req := httptest.NewRequest("POST", "/api/replay?hook=site&dry_run=true", nil)
	req.Host = "127.0.0.1"
	e.srv.ServeHTTP(w, req)
	if code != 200 || ctype != "application/x-ndjson" {
		t.Fatalf("first flush: %d %q; want 200 application/x-ndjson", code, ctype)
	}
	if before != 0 {
		t.Errorf("the answer's headers went out with %d bytes of body (%q): after the count, not before it", before, w.Body.String()[:before])
	}
	if total, evs, done := readBulk(t, w.Body.String()); total != 1 || len(evs) != 1 || done == nil {
		t.Errorf("bulk replay: total %d, events %+v, done %+v; want the one event", total, evs, done)
	}
}

// flushLog is a response writer that keeps what had been written at each
// flush: what a client had received by then.
type flushLog struct {
	*httptest.ResponseRecorder
	at []string
}

func (f *flushLog) Flush() {
	f.ResponseRecorder.Flush()
	f.at = append(f.at, f.Body.String())
}

// A bulk replay counts the events that match before it replays them, and
// sent nothing while it counted: on a large database (a page of the count
// looks at up to 200,000 events), minutes of silence after the headers,
// which a client that bounds its waits (webhookd replay gives up after
// 60s without a byte) takes for a stuck daemon. Each page of the count
// that more follow sends {"counted": N}, flushed, and each of the walk
// {"at": ID} (a page of it may match none of the events it looks at).
func TestAPI_BulkReplayCountsAloud(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	for range bulkPage + 1 {
		e.ingest("other", "push", `{}`) // no action: nothing runs
	}
	req := httptest.NewRequest("POST", "/api/replay?hook=other&dry_run=true", nil)
	req.Host = "127.0.0.1"
	w := &flushLog{ResponseRecorder: httptest.NewRecorder()}
	e.srv.ServeHTTP(w, req)
	total, evs, done := readBulk(t, w.Body.String())
	if total != bulkPage+1 || len(evs) != bulkPage+1 || done == nil {
		t.Fatalf("bulk replay: total %d, %d events, done %+v; want %d", total, len(evs), done, bulkPage+1)
	}
	counted := false
	for _, sent := range w.at {
		if strings.Contains(sent, `"total"`) {
			break
		}
		if strings.Contains(sent, fmt.Sprintf(`{"counted":%d}`, bulkPage)) {
			counted = true
		}
	}
	if !counted {
		t.Errorf("flushed before the total: %q; want a counted line of the first page's %d", w.at, bulkPage)
	}
	// The walk, too, says where it is after each page that more follow.
	at := false
	for _, sent := range w.at {
		if i := strings.Index(sent, `"total"`); i >= 0 && strings.Contains(sent[i:], `{"at":"`) && !strings.Contains(sent, `"done"`) {
			at = true
		}
	}
	if !at {
		t.Errorf("flushed: %q; want an at line of the walk's first page, before done", w.at)
	}
}
