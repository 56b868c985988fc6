package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// TestAPI_SinceAfterClockStep: the wall clock ran a day ahead and NTP put
// it right at 12:00. An event received at 12:05 (by the right clock) gets
// an id carrying the ahead clock's time (ids never go back). At 13:00,
// ?since=12:30 must not list it, nor a bulk replay of the last 30 minutes
// take it: since is a time, and the event's received time says 12:05.
// (until=12:30 does not find it either: the listing looks for it by id,
// README says so.)
func TestAPI_SinceAfterClockStep(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	clock.Store(base.Add(24 * time.Hour).UnixNano()) // a day ahead
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{Logger: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sched := actions.New(actions.Options{Store: st, Logger: log, TempDir: t.TempDir(), Now: now}, actions.NewConfig(nil))
	ingest := func() string {
		t.Helper()
		res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Received: now(), Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	ingest()                                          // received while the clock ran ahead
	clock.Store(base.Add(5 * time.Minute).UnixNano()) // put right at 12:00; this one at 12:05
	id := ingest()
	clock.Store(base.Add(time.Hour).UnixNano()) // 13:00
	srv := New(Options{
		Addr: "127.0.0.1:0", Store: st, Scheduler: sched, Logger: log,
		Status:     func() Status { return Status{Version: "test", Started: base} },
		Rejections: func() []listener.Rejection { return nil },
		Metrics:    NewMetrics(st, nil),
		Now:        now,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	list := func(q string) map[string]bool {
		t.Helper()
		res, err := ts.Client().Get(ts.URL + "/api/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var l EventListJSON
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%s: %s: %v", q, b, err)
		}
		ids := map[string]bool{}
		for _, e := range l.Events {
			ids[e.ID] = true
		}
		return ids
	}
	half := url.QueryEscape(base.Add(30 * time.Minute).Format(time.RFC3339))
	if got := list("since=" + half); got[id] {
		t.Errorf("since=12:30 lists the event received at 12:05 (%s)", id)
	}
	if got := list("since=30m"); got[id] {
		t.Errorf("since=30m (at 13:00) lists the event received at 12:05 (%s)", id)
	}
	// A bulk replay of "the last 30 minutes" would run its actions again.
	res, err := ts.Client().Post(ts.URL+"/api/replay?since=30m&dry_run=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var line BulkLine
		if err := dec.Decode(&line); err != nil {
			break
		}
		if line.Event != nil && line.Event.ID == id {
			t.Errorf("POST /api/replay?since=30m&dry_run=true at 13:00 matches the event received at 12:05 (%s): a bulk replay of the last 30 minutes would run its actions again", id)
		}
	}
}
