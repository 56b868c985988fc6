package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// TestAPI_DamagedEvent: an event whose record cannot be decoded (bit rot,
// a torn copy) does not fail the listings at it: GET /api/events and the
// dashboard's events page list it, by id, as damaged, beside the others;
// GET /api/events/{id} answers 500, saying it is damaged and to restore a
// backup.
func TestAPI_DamagedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range []string{"d0", "d1", "d2"} {
		res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Delivery: d, Received: time.Now(), Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	st.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Put([]byte(ids[1]), []byte("\x00{bit rot"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	log := slog.New(slog.NewTextHandler(tlog{t}, nil))
	st, err = store.Open(path, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sched := actions.New(actions.Options{Store: st, Logger: log, TempDir: t.TempDir()}, actions.NewConfig(nil))
	if err := sched.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sched.Close() })
	srv := New(Options{Addr: "127.0.0.1:0", Store: st, Scheduler: sched, Logger: log,
		Status:     func() Status { return Status{Version: "test", Started: time.Now()} },
		Rejections: func() []listener.Rejection { return nil },
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, st: st, sched: sched, srv: srv, ts: ts}

	var list EventListJSON
	if code, body := e.call("GET", "/api/events", "", &list); code != 200 {
		t.Fatalf("GET /api/events = %d %s", code, body)
	}
	var got []string
	for _, ev := range list.Events {
		got = append(got, ev.ID+" "+string(ev.State))
	}
	if want := []string{ids[2] + " skipped", ids[1] + " damaged", ids[0] + " skipped"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("GET /api/events = %v; want %v", got, want)
	}
	code, body := e.call("GET", "/api/events/"+ids[1], "", nil)
	if code != http.StatusInternalServerError || !strings.Contains(body, "damaged") || !strings.Contains(body, "backup") {
		t.Errorf("GET /api/events/<damaged> = %d %s; want 500 saying it is damaged and to restore a backup", code, body)
	}
	res, err := ts.Client().Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), ids[1]) || !strings.Contains(string(page), "cannot be read") || !strings.Contains(string(page), ids[0]) {
		t.Errorf("GET / = %d; want the events page listing the damaged event as such:\n%s", res.StatusCode, page)
	}
}
