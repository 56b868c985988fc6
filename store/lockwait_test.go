package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// heldFile makes a database and opens it read-only, as an offline
// `webhookd backup` does: its lock is held until the returned store is
// closed (at the end of the test at the latest).
func heldFile(t *testing.T) (string, *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "held.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return path, ro
}

// OpenWait waits for a lock another process lets go of, says once that it
// waits, and opens the file.
func TestOpenWait_LockLetGo(t *testing.T) {
	path, holder := heldFile(t)
	time.AfterFunc(600*time.Millisecond, func() { holder.Close() })
	var waits atomic.Int32
	start := time.Now()
	s, err := OpenWait(context.Background(), path, Options{}, 10*time.Second, func() { waits.Add(1) })
	if err != nil {
		t.Fatalf("OpenWait with the lock let go after 600ms: %v", err)
	}
	defer s.Close()
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("opened after %v, while the lock was held for 600ms", took)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("waiting was called %d times; want once", n)
	}
}

// A lock held past the wait: the error names the file, says that another
// webhookd process holds it (which may be an offline command) and how
// long it waited; it is ErrLocked.
func TestOpenWait_GivesUp(t *testing.T) {
	path, _ := heldFile(t)
	var waits atomic.Int32
	start := time.Now()
	_, err := OpenWait(context.Background(), path, Options{}, 700*time.Millisecond, func() { waits.Add(1) })
	took := time.Since(start)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenWait on a file held throughout: %v; want ErrLocked", err)
	}
	for _, want := range []string{path, "another webhookd process holds it", "a running daemon", "backup or compact", "waited 700ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	if took < 700*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %v; want 700ms", took)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("waiting was called %d times; want once", n)
	}
}

// A wait ends with its context (SIGTERM at a daemon's start), soon.
func TestOpenWait_Stopped(t *testing.T) {
	path, _ := heldFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := OpenWait(ctx, path, Options{}, time.Minute, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenWait stopped while waiting: %v; want context.Canceled", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond+2*lockTry {
		t.Errorf("stopped %v after the start, the context ended at 300ms", took)
	}
}

// A lock nobody holds: no wait, no word of one. A lock held for a moment
// (a daemon's, killed a moment ago) is got in the first try, without a
// word either.
func TestOpenWait_NoWaitSaid(t *testing.T) {
	path, holder := heldFile(t)
	time.AfterFunc(50*time.Millisecond, func() { holder.Close() })
	for range 2 {
		s, err := OpenWait(context.Background(), path, Options{}, 10*time.Second, func() { t.Error("waiting called") })
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
