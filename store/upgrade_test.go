package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// schema1Copy copies the database webhookd wrote at commit 0519b85
// (testdata/README.md) into a temporary directory and returns its path.
func schema1Copy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "schema1-0519b85.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// schema1Deliveries are the fixture's deliveries, oldest first.
var schema1Deliveries = []string{
	"d-ok", "d-fail", "d-dead", "d-skip", "d-slow", "d-co1", "d-co2", "d-co3",
	strings.Repeat("L", 300), "bin-\xff\xfe-id", "d-dup",
}

// TestUpgrade_Schema1: a file of the first format (written by webhookd
// at 0519b85, then killed) opens with every event and job in the state it
// was left in, the interrupted runs back in their queues, its job counts
// right (the first builds kept no count of events), and each of its
// delivery ids a duplicate (those builds kept one that is long or not UTF-8
// as it came), until retention deletes its event.
func TestUpgrade_Schema1(t *testing.T) {
	path := schema1Copy(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	evs, _, err := s.ListEvents(EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(schema1Deliveries) {
		t.Fatalf("%d events; want %d", len(evs), len(schema1Deliveries))
	}
	// The action that ran for each delivery, and its job's state (the
	// other actions' when was false: skipped).
	want := map[string]struct {
		action string
		state  State
	}{
		"d-ok": {"ok", Succeeded}, "d-fail": {"flaky", Failed}, "d-dead": {"die", Dead},
		"d-skip": {"", ""}, "d-slow": {"slow", Pending}, "d-co1": {"co", Pending},
		"d-co2": {"co", Skipped}, "d-co3": {"co", Pending},
		schema1Deliveries[8]: {"ok", Succeeded}, schema1Deliveries[9]: {"ok", Succeeded},
		"d-dup": {"ok", Pending},
	}
	ids := map[string]string{} // delivery → event id
	counts := map[State]int64{}
	for i, ev := range evs {
		d := schema1Deliveries[len(evs)-1-i]
		ids[d] = ev.ID
		if ev.Hook != "gh" || ev.Type != "push" {
			t.Errorf("event %s: hook %q, type %q; want gh, push", ev.ID, ev.Hook, ev.Type)
		}
		full, err := s.GetEvent(ev.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(full.Body), `"kind"`) || full.Header.Get("X-Github-Event") != "push" {
			t.Errorf("event %s (%q): body %q, headers %v", ev.ID, d, full.Body, full.Header)
		}
		if len(ev.Jobs) != 6 {
			t.Fatalf("event %s (%q): %d jobs; want 6", ev.ID, d, len(ev.Jobs))
		}
		w := want[d]
		for _, j := range ev.Jobs {
			counts[j.State]++
			st := Skipped
			if j.Action == w.action {
				st = w.state
			}
			if j.State != st {
				t.Errorf("event %q: job %s (%s) is %s (%s); want %s", d, j.ID, j.Action, j.State, j.Reason, st)
			}
		}
	}
	// The runs the kill cut off are recorded and run again.
	for _, d := range []string{"d-slow", "d-co1"} {
		ev, _ := s.GetEvent(ids[d], false)
		jobs, _ := s.Jobs(ev)
		for _, j := range jobs {
			if j.State != Pending {
				continue
			}
			runs, err := s.Runs(j.ID)
			if err != nil || len(runs) != 1 || runs[0].Result != RunInterrupted {
				t.Errorf("%q: runs of job %s = %+v, %v; want one interrupted", d, j.ID, runs, err)
			}
		}
	}

	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != len(evs) {
		t.Errorf("Stats().Events = %d; want %d", st.Events, len(evs))
	}
	for _, state := range States {
		if st.Jobs[state] != counts[state] {
			t.Errorf("Stats().Jobs[%s] = %d; want %d", state, st.Jobs[state], counts[state])
		}
	}

	for _, d := range schema1Deliveries {
		res, err := s.Ingest(context.Background(), newEvent("gh", d, job("ok")))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Duplicate || res.ID != ids[d] {
			t.Errorf("Ingest of delivery %.20q again = %+v; want a duplicate of %s", d, res, ids[d])
		}
	}

	// Retention deletes the finished events, and their delivery ids are
	// new again.
	if _, err := s.Prune(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, d := range schema1Deliveries[8:10] {
		if _, err := s.GetEvent(ids[d], false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("event of %.20q after Prune: %v; want it deleted", d, err)
		}
		res, err := s.Ingest(context.Background(), newEvent("gh", d, job("ok")))
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate {
			t.Errorf("Ingest of delivery %.20q after its event was pruned = %+v; want a new event", d, res)
		}
	}
	if err := s.Check(); err != nil {
		t.Errorf("consistency check: %v", err)
	}
}

// fileVersion reads the schema version of the closed database at path.
func fileVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	_ = db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bMeta); m != nil {
			v = string(m.Get(metaVersion))
		}
		return nil
	})
	return v
}

// TestUpgrade_SchemaVersion: a new file and an upgraded one are of the
// current schema, so that the builds that read schema 1 (and misread what
// this one writes) refuse them; a read-only open reads a schema 1 file
// and leaves it as it is; a newer schema is refused either way, untouched.
func TestUpgrade_SchemaVersion(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if v := fileVersion(t, path); v != schemaVersion || v == "1" {
			t.Errorf("a new file's schema = %q; want %q", v, schemaVersion)
		}
	})
	t.Run("upgraded", func(t *testing.T) {
		path := schema1Copy(t)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if v := fileVersion(t, path); v != schemaVersion || v == "1" {
			t.Errorf("schema after the upgrade = %q; want %q", v, schemaVersion)
		}
		// Once: the next open migrates nothing, and the count stays.
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if st, _ := s.Stats(); st.Events != len(schema1Deliveries) {
			t.Errorf("Stats().Events after a reopen = %d; want %d", st.Events, len(schema1Deliveries))
		}
	})
	t.Run("read-only", func(t *testing.T) {
		path := schema1Copy(t)
		before, _ := os.ReadFile(path)
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only Open of a schema 1 file: %v", err)
		}
		evs, _, err := s.ListEvents(EventFilter{Limit: 100})
		s.Close()
		if err != nil || len(evs) != len(schema1Deliveries) {
			t.Errorf("ListEvents read-only = %d events, %v; want %d", len(evs), err, len(schema1Deliveries))
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("a read-only open changed the file")
		}
	})
	t.Run("newer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "newer.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bMeta).Put(metaVersion, []byte("3"))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before, _ := os.ReadFile(path)
		for _, ro := range []bool{false, true} {
			s, err := Open(path, Options{ReadOnly: ro})
			if err == nil {
				s.Close()
				t.Fatalf("Open(ReadOnly: %v) of a schema 3 file succeeded; want it refused", ro)
			}
			if !strings.Contains(err.Error(), "schema 3") || !strings.Contains(err.Error(), "newer webhookd") {
				t.Errorf("Open(ReadOnly: %v) = %v; want it to say the file is a newer webhookd's", ro, err)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the refused file was changed")
		}
	})
}

// editFile applies fn to the closed database at path in a transaction of
// its own: how a test crafts a file that webhookd never wrote.
func editFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// TestUpgrade_FailedUpgradeLeavesFile: an upgrade that fails (here, its
// commit, as a full disk fails it) leaves the file as it was, still of
// schema 1, and says so; once the cause is gone, the next start upgrades
// it.
func TestUpgrade_FailedUpgradeLeavesFile(t *testing.T) {
	path := schema1Copy(t)
	long := strings.Repeat("L", 300)
	var id []byte
	editFile(t, path, func(tx *bolt.Tx) error {
		id = bytes.Clone(tx.Bucket(bDedup).Get(dedupKey("gh", long)))
		return nil
	})
	before, _ := os.ReadFile(path)
	full := errors.New("no space left on device")
	if s, err := Open(path, Options{FailWrites: func() error { return full }}); err == nil {
		s.Close()
		t.Fatal("Open succeeded; want the upgrade's commit to fail")
	} else if !errors.Is(err, full) || !strings.Contains(err.Error(), "upgrade the database from schema 1") ||
		!strings.Contains(err.Error(), "left as it was") || !strings.Contains(err.Error(), path) {
		t.Errorf("Open = %v; want it to name the file, say the upgrade failed and the file is left as it was, and why", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the failed upgrade changed the file")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the cause is gone: %v", err)
	}
	defer s.Close()
	if st, _ := s.Stats(); st.Events != len(schema1Deliveries) {
		t.Errorf("Stats().Events = %d; want %d", st.Events, len(schema1Deliveries))
	}
	if res, err := s.Ingest(context.Background(), newEvent("gh", long, job("ok"))); err != nil || !res.Duplicate || res.ID != string(id) {
		t.Errorf("Ingest of the long delivery id again = %+v, %v; want a duplicate of %s", res, err, id)
	}
}

// TestUpgrade_UndecodableEvent: an event the upgrade cannot decode, behind
// a delivery id it cleans (one kept as it came, longer than 256 bytes or
// not UTF-8), does not stop the upgrade, and so the start: its id is
// cleaned in the de-duplication index, which needs no decoding, so that
// a redelivery of it is still a duplicate; the record is left as it was,
// and a warning names it, the file, what is wrong and what to do. The
// upgrade failed on it, and the start with it, with only the decoding
// error, and no webhookd command puts such a record right.
func TestUpgrade_UndecodableEvent(t *testing.T) {
	for _, d := range schema1Deliveries[8:10] { // the long one; the one not UTF-8
		t.Run(fmt.Sprintf("%.12q", d), func(t *testing.T) {
			path := schema1Copy(t)
			var id []byte
			damaged := []byte("{not json")
			editFile(t, path, func(tx *bolt.Tx) error {
				id = bytes.Clone(tx.Bucket(bDedup).Get(dedupKey("gh", d)))
				return tx.Bucket(bEvents).Put(id, damaged)
			})
			logged := &lockedBuffer{}
			s, err := Open(path, Options{Logger: slog.New(slog.NewTextHandler(logged, nil))})
			if err != nil {
				t.Fatalf("Open: %v; want the upgrade to leave the event it cannot decode as it is", err)
			}
			defer s.Close()
			for _, d := range schema1Deliveries {
				res, err := s.Ingest(context.Background(), newEvent("gh", d, job("ok")))
				if err != nil || !res.Duplicate {
					t.Errorf("Ingest of delivery %.20q again = %+v, %v; want a duplicate", d, res, err)
				}
			}
			if res, _ := s.Ingest(context.Background(), newEvent("gh", d, job("ok"))); res.ID != string(id) {
				t.Errorf("Ingest of the damaged event's delivery id again = %+v; want a duplicate of %s", res, id)
			}
			var warn string
			for _, line := range strings.Split(logged.String(), "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, string(id)) {
					warn = line
				}
			}
			for _, want := range []string{"event_id=" + string(id), path, "invalid character", "README, Backups", "duplicate"} {
				if !strings.Contains(warn, want) {
					t.Errorf("the warning lacks %q: %q (log:\n%s)", want, warn, logged)
				}
			}
			s.Close()
			if v := fileVersion(t, path); v != schemaVersion {
				t.Errorf("schema after the upgrade = %q; want %s", v, schemaVersion)
			}
			editFile(t, path, func(tx *bolt.Tx) error {
				if v := tx.Bucket(bEvents).Get(id); !bytes.Equal(v, damaged) {
					t.Errorf("the damaged record = %q after the upgrade; want it left as it was", v)
				}
				return nil
			})
		})
	}
}

// TestUpgrade_LogsAfterCommit: the log says the schema was upgraded only
// once the upgrade is on disk. It said so from inside Open's transaction,
// and a commit that then failed left a log claiming an upgrade that did
// not happen, beside a file still of schema 1; so did it of the jobs a
// kill cut off (the fixture's two), which stayed running in the file.
func TestUpgrade_LogsAfterCommit(t *testing.T) {
	path := schema1Copy(t)
	logged := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logged, nil))
	full := errors.New("no space left on device")
	if s, err := Open(path, Options{Logger: log, FailWrites: func() error { return full }}); err == nil {
		s.Close()
		t.Fatal("Open succeeded with its commit failing")
	} else if !errors.Is(err, full) {
		t.Errorf("Open with its commit failing = %v; want %v", err, full)
	}
	if v := fileVersion(t, path); v != "1" {
		t.Fatalf("schema after a failed commit = %q; want 1", v)
	}
	if got := logged.String(); strings.Contains(got, "upgraded") || strings.Contains(got, "goes back to its queue") {
		t.Errorf("a failed upgrade logged %q; want no upgrade, and no job back in its queue, claimed", got)
	}
	s, err := Open(path, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	got := logged.String()
	if !strings.Contains(got, "upgraded the database's schema") || !strings.Contains(got, "from=1 to="+schemaVersion) {
		t.Errorf("the upgrade logged %q; want it said, from 1 to %s", got, schemaVersion)
	}
	if n := strings.Count(got, "job interrupted by a stop goes back to its queue"); n != 2 {
		t.Errorf("the upgrade logged %d jobs back in their queues; want 2 (slow's and co's):\n%s", n, got)
	}
}
