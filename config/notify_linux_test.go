package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// nextEvent waits up to d for the notifier's next path ("" if none came).
func nextEvent(t *testing.T, n notifier, d time.Duration) string {
	t.Helper()
	select {
	case p, ok := <-n.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return p
	case err := <-n.Errors():
		t.Fatalf("watch error: %v", err)
	case <-time.After(d):
	}
	return ""
}

// TestInotify: a directory's watch does not hear writes to the files in it
// (the database's pages), but does hear entries come and go; a file's own
// watch hears its writes; Remove and the end of a file end its watches.
func TestInotify(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "webhookd.toml")
	db := filepath.Join(dir, "webhookd.db")
	mustWrite(t, cfg, "a")
	mustWrite(t, db, "")
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.AddDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := n.AddFile(cfg); err != nil {
		t.Fatal(err)
	}
	if err := n.AddDir(cfg); err == nil {
		t.Error("AddDir of a file succeeded")
	}

	// Page writes to the database, in place, as bbolt does them.
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := f.WriteAt(make([]byte, 4096), int64(i%8)*4096); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if p := nextEvent(t, n, 300*time.Millisecond); p != "" {
		t.Fatalf("a write to another file of the directory was delivered: %s", p)
	}

	appendTo(t, cfg, "b")
	if p := nextEvent(t, n, 5*time.Second); p != cfg {
		t.Fatalf("a write to the watched file delivered %q; want %q", p, cfg)
	}
	for nextEvent(t, n, 100*time.Millisecond) != "" { // its close, and so on
	}

	tmp := filepath.Join(dir, ".webhookd.toml.swp")
	mustWrite(t, tmp, "c")
	var got []string
	for p := nextEvent(t, n, 2*time.Second); p != ""; p = nextEvent(t, n, 200*time.Millisecond) {
		got = append(got, p)
	}
	if !slices.Contains(got, tmp) {
		t.Errorf("creating a file in the directory delivered %v; want %s among them", got, tmp)
	}

	// A rename over the watched file: the directory hears the new name,
	// the old file's watch hears it go.
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for p := nextEvent(t, n, 2*time.Second); p != ""; p = nextEvent(t, n, 200*time.Millisecond) {
		got = append(got, p)
	}
	if !slices.Contains(got, cfg) {
		t.Errorf("a rename over the file delivered %v; want %s", got, cfg)
	}

	// The replaced file's watch ended with it: the name is unwatched now
	// (the Watcher watches the new file again on its next sync).
	in := n.(*inotify)
	in.mu.Lock()
	_, still := in.wds[cfg]
	in.mu.Unlock()
	if still {
		t.Error("the watch of a file that is gone is still kept")
	}
	if err := n.Remove(cfg); !errors.Is(err, errNotWatched) {
		t.Errorf("Remove of an ended watch = %v; want errNotWatched", err)
	}
	// A file whose directory is not watched: after Remove, nothing.
	secret := filepath.Join(t.TempDir(), "secret")
	mustWrite(t, secret, "s")
	if err := n.AddFile(secret); err != nil {
		t.Fatal(err)
	}
	appendTo(t, secret, "t")
	if p := nextEvent(t, n, 5*time.Second); p != secret {
		t.Fatalf("a write to a watched file delivered %q; want %q", p, secret)
	}
	for nextEvent(t, n, 100*time.Millisecond) != "" {
	}
	if err := n.Remove(secret); err != nil {
		t.Errorf("Remove = %v", err)
	}
	appendTo(t, secret, "u")
	if p := nextEvent(t, n, 300*time.Millisecond); p != "" {
		t.Errorf("a write after Remove delivered %s", p)
	}

	if err := n.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, ok := <-n.Events(); ok {
		t.Error("events still open after Close")
	}
	if err := n.AddFile(cfg); !errors.Is(err, os.ErrClosed) {
		t.Errorf("AddFile after Close = %v; want os.ErrClosed", err)
	}
}

// TestInotify_Names: two names of one file (hard links, both watched) are
// one watch; each name is reported, and removing one keeps the other.
func TestInotify_Names(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	mustWrite(t, a, "x")
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	for _, p := range []string{a, b} {
		if err := n.AddFile(p); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(t, a, "y")
	seen := map[string]bool{}
	for p := nextEvent(t, n, 2*time.Second); p != ""; p = nextEvent(t, n, 200*time.Millisecond) {
		seen[p] = true
	}
	if !seen[a] || !seen[b] {
		t.Errorf("a write to a file of two watched names delivered %v; want both", seen)
	}
	if err := n.Remove(a); err != nil {
		t.Fatal(err)
	}
	appendTo(t, b, "z")
	seen = map[string]bool{}
	for p := nextEvent(t, n, 2*time.Second); p != ""; p = nextEvent(t, n, 200*time.Millisecond) {
		seen[p] = true
	}
	if seen[a] || !seen[b] {
		t.Errorf("after removing one name, a write delivered %v; want only %s", seen, b)
	}
}
