package store_test

// Hostile keys: delivery ids and queue keys come from the sender (a header,
// the payload through a key template). Whatever bytes they hold, and
// however long, the event is stored, its queue moves on, and pruning it
// leaves nothing behind.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

func openStore(t *testing.T, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	return st
}

var hostileKeys = []struct{ name, v string }{
	{"invalid UTF-8", "o/r\xff\xfe\xc3\x28"},
	{"lone surrogate", "\xed\xa0\x80"},
	{"NUL", "a\x00b"},
	{"40000 bytes", strings.Repeat("k", 40000)},
	{"40000 bytes of invalid UTF-8", strings.Repeat("\xff", 40000)},
}

// TestStore_HostileQueueKey: a job whose key is not valid UTF-8 or is
// longer than bbolt allows is stored and leaves its queue when it
// finishes, so the next job of that queue runs.
func TestStore_HostileQueueKey(t *testing.T) {
	for _, tc := range hostileKeys {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, store.Options{})
			ctx := context.Background()
			job := store.NewJob{Action: "deploy", Key: tc.v, Concurrency: 1}
			first, err := st.Ingest(ctx, &store.NewEvent{Hook: "site", Body: []byte("{}"), Jobs: []store.NewJob{job}})
			if err != nil {
				t.Fatalf("Ingest with key %q…: %v", tc.v[:min(len(tc.v), 8)], err)
			}
			second, err := st.Ingest(ctx, &store.NewEvent{Hook: "site", Body: []byte("{}"), Jobs: []store.NewJob{job}})
			if err != nil {
				t.Fatal(err)
			}
			due := dueIDs(t, st)
			if len(due) != 1 {
				t.Fatalf("due = %v; want only the first job (concurrency 1)", due)
			}
			ev, _ := st.GetEvent(first.ID, false)
			if due[0] != ev.JobIDs[0] {
				t.Fatalf("due = %v; want the first event's job %s", due, ev.JobIDs[0])
			}
			if _, err := st.Start(ctx, due[0]); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if _, err := st.Finish(ctx, due[0], store.Outcome{State: store.Succeeded, Concurrency: 1,
				Run: store.Run{Started: now, Finished: now, Result: store.RunSucceeded}}); err != nil {
				t.Fatal(err)
			}
			ev2, _ := st.GetEvent(second.ID, false)
			if due := dueIDs(t, st); len(due) != 1 || due[0] != ev2.JobIDs[0] {
				t.Fatalf("after the first finished, due = %v; want the second event's job %s (the queue must move on)", due, ev2.JobIDs[0])
			}
		})
	}
}

func dueIDs(t *testing.T, st *store.Store) []string {
	t.Helper()
	due, _, err := st.Due("site", "deploy", time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range due {
		ids = append(ids, d.JobID)
	}
	return ids
}

// TestStore_HostileDelivery: a delivery id of any bytes and length is
// stored once; its repeat is a duplicate; once the event is pruned the
// id is free again (nothing is left behind in the de-duplication index).
func TestStore_HostileDelivery(t *testing.T) {
	for _, tc := range hostileKeys {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			clock := now
			st := openStore(t, store.Options{Now: func() time.Time { return clock }})
			ctx := context.Background()
			ne := func() *store.NewEvent {
				return &store.NewEvent{Hook: "site", Delivery: tc.v, Body: []byte("{}"), Received: clock}
			}
			first, err := st.Ingest(ctx, ne())
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			again, err := st.Ingest(ctx, ne())
			if err != nil || !again.Duplicate || again.ID != first.ID {
				t.Fatalf("repeat = %+v, %v; want a duplicate of %s", again, err, first.ID)
			}
			// A near miss is another delivery.
			other, err := st.Ingest(ctx, &store.NewEvent{Hook: "site", Delivery: tc.v + "x", Body: []byte("{}"), Received: clock})
			if err != nil || other.Duplicate {
				t.Fatalf("another delivery id = %+v, %v; want a new event", other, err)
			}
			clock = now.Add(48 * time.Hour)
			if n, err := st.Prune(ctx, now.Add(time.Hour)); err != nil || n != 2 {
				t.Fatalf("Prune = %d, %v; want both events", n, err)
			}
			third, err := st.Ingest(ctx, ne())
			if err != nil || third.Duplicate {
				t.Fatalf("after pruning, the delivery again = %+v, %v; want a new event (its de-duplication entry gone)", third, err)
			}
		})
	}
}
