package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestStore_IngestAfterCloseLooksAtDisk: a delivery still in flight when
// the store closes (a listener cut off at shutdown_timeout) gets ErrClosed,
// and so does a status page's Refusing; the guard's next look at the disk,
// which asks the file for its spare room, does not panic on the closed file.
func TestStore_IngestAfterCloseLooksAtDisk(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s, err := Open(filepath.Join(t.TempDir(), "test.db"), Options{Now: now, MinFree: 64 << 20, FreeSpace: disk.FreeSpace})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	clock.Add(int64(diskRecheck)) // the guard's next look is due
	if err := s.Refusing(); err != nil {
		t.Errorf("Refusing after Close = %v; want nil (the disk has room)", err)
	}
	clock.Add(int64(diskRecheck))
	if _, err := s.Ingest(context.Background(), newEvent("h", "d1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Ingest after Close = %v; want ErrClosed", err)
	}
}
