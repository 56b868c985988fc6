package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := fill(t, s, 800, 16<<10, map[int]bool{799: true})
	// Keep the newest 50 and the unfinished one: most of the file is free.
	if _, err := s.PruneToSize(ctx, 50*16<<10); err != nil {
		t.Fatal(err)
	}
	wantStats, _ := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// While another process holds the file, compaction refuses.
	holder, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The holder may be a daemon or an offline command (a backup): the
	// refusal says both.
	if _, err := Compact(ctx, path, path, nil); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "stop webhookd") || !strings.Contains(err.Error(), "backup") {
		t.Errorf("Compact while the store is open = %v; want ErrLocked, saying to stop webhookd or let the offline command end", err)
	}
	holder.Close()

	var calls, last, lastTotal int64
	res, err := Compact(ctx, path, path, func(done, total int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls++
		last, lastTotal = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before/4 {
		t.Errorf("Compact: %d -> %d bytes; want it to shrink to under a quarter", res.Before, res.After)
	}
	if calls < 2 || last != lastTotal || last == 0 {
		t.Errorf("progress: %d calls, last %d of %d; want at least 2 calls ending at done == total", calls, last, lastTotal)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted file mode = %v; want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// Everything kept is there, and the store works on the new file.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("check after compact: %v", err)
	}
	gotStats, _ := s.Stats()
	if gotStats.Events != wantStats.Events || gotStats.Jobs[Pending] != wantStats.Jobs[Pending] || gotStats.Jobs[Skipped] != wantStats.Jobs[Skipped] {
		t.Errorf("stats after compact = %+v; want %+v", gotStats, wantStats)
	}
	ev, err := s.GetEvent(ids[798], true)
	if err != nil {
		t.Errorf("newest finished event after compact: %v", err)
	} else if !bytes.Equal(ev.Body, bytes.Repeat([]byte("b"), 16<<10)) {
		t.Errorf("newest finished event's body after compact: %d bytes; want %d", len(ev.Body), 16<<10)
	}
	due, _, err := s.Due("h", "p799", time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Errorf("Due after compact = %v, %v; want the unfinished job", due, err)
	}
	res2, err := s.Ingest(ctx, newEvent("h", "after-compact"))
	if err != nil || res2.ID <= ids[799] {
		t.Errorf("Ingest after compact = %+v, %v; want a new id after %s", res2, err, ids[799])
	}
}

func TestCompact_ToAnotherFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "out.db")
	s, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 20, 1<<10, nil)
	s.Close()
	before, _ := os.ReadFile(src)
	if _, err := Compact(context.Background(), src, dst, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(src)
	if !bytes.Equal(before, after) {
		t.Errorf("compacting to another file changed the source")
	}
	if err := CheckFile(dst); err != nil {
		t.Errorf("CheckFile(compacted copy): %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), bytes.Repeat([]byte{0xff}, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(filepath.Join(dir, "junk.db")); err == nil {
		t.Errorf("CheckFile(junk) = nil; want an error")
	}
}

// TestCompact_OpenWhileFinishing: a daemon that starts while a compaction
// finishes (its Open waits for the lock) must end up on the compacted
// file at the path, not on the old one the compaction renamed its copy
// over: events it took there would be gone at its next start.
func TestCompact_OpenWhileFinishing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhookd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 50, 1<<10, nil)
	s.Close()

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	compacted := make(chan error, 1)
	go func() {
		_, err := Compact(context.Background(), path, path, func(done, total int64) {
			once.Do(func() { close(started); <-release })
		})
		compacted <- err
	}()
	<-started
	opened := make(chan *Store, 1)
	go func() {
		d, err := Open(path, Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Errorf("Open while the compaction finishes: %v", err)
		}
		opened <- d
	}()
	time.Sleep(200 * time.Millisecond) // Open has the old file and waits for its lock
	close(release)
	if err := <-compacted; err != nil {
		t.Fatalf("Compact: %v", err)
	}
	d := <-opened
	if d == nil {
		return
	}
	res, err := d.Ingest(context.Background(), newEvent("h", "after-compact"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.GetEvent(res.ID, false); err != nil {
		t.Errorf("event %s, stored by a store opened while the compaction finished, after a restart: %v", res.ID, err)
	}
}
