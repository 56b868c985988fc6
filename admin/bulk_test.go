package admin

import (
	"net/http/httptest"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// flushHook is a response writer that runs fn at its first flush: the
// moment a bulk replay has sent its total and begins to replay.
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
