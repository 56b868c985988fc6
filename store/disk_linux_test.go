package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// allocated is the disk space the file at path takes (its blocks, not its
// size: bbolt grows a file with holes in it).
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestStore_MinFreeRoomInsideTheFile: the database itself filled the disk
// (no max_size), then retention deleted old events. The file keeps its
// size, so the file system's free space stays below min_free for good;
// deliveries that fit in the pages retention freed take none of it, and
// are accepted again — without growing the file — rather than refused
// until someone compacts it.
func TestStore_MinFreeRoomInsideTheFile(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	const min = 64 << 20
	s, path := openTest(t, Options{Now: now, MinFree: min, FreeSpace: disk.FreeSpace})
	ctx := context.Background()
	ev := func(name string) *NewEvent {
		e := newEvent("h", name, NewJob{Action: "a", Skip: "finished"})
		e.Received = now()
		e.Body = bytes.Repeat([]byte("x"), 256<<10)
		return e
	}
	// 48 MiB of events fill the disk to 10 MiB below min_free.
	const n = 192
	for i := range n {
		if _, err := s.Ingest(ctx, ev(fmt.Sprint("old", i))); err != nil {
			t.Fatalf("Ingest with 1 GiB free: %v", err)
		}
	}
	disk.free.Store(min - 10<<20)
	advance(diskRecheck)
	if _, err := s.Ingest(ctx, ev("full")); !errors.Is(err, ErrLowDisk) {
		t.Fatalf("Ingest with a full file below min_free = %v; want ErrLowDisk", err)
	}
	// Retention deletes them all: the file keeps its size, and the free
	// space its figure.
	if got, err := s.Prune(ctx, now().Add(time.Hour)); err != nil || got != n {
		t.Fatalf("Prune = %d, %v; want %d", got, err, n)
	}
	before := allocated(t, path)
	// No wait for the guard's next look: the prune makes it look again,
	// so a sender's retry right after it is stored.
	accepted := 0
	for i := range 4 * n {
		if _, err := s.Ingest(ctx, ev(fmt.Sprint("new", i))); err != nil {
			if !errors.Is(err, ErrLowDisk) {
				t.Fatalf("Ingest: %v", err)
			}
			break
		}
		accepted++
		advance(diskRecheck) // a fresh look at each: the file's room as it is
	}
	after := allocated(t, path)
	t.Logf("accepted %d deliveries of 256 KiB; the file takes %d bytes of disk, took %d", accepted, after, before)
	// What the file holds less bbolt's step when it grows the file (16
	// MiB; a write that finds no free run long enough may grow it by
	// that much), which is kept unused.
	if accepted < n/4 {
		t.Errorf("accepted %d deliveries of 256 KiB after retention freed %d of them inside the file; want the ones that fit", accepted, n)
	}
	if accepted == 4*n {
		t.Errorf("accepted all %d deliveries of 256 KiB, four times what filled the file; want a refusal once its room is used up", accepted)
	}
	if after > before {
		t.Errorf("the file took %d more bytes of disk while the disk was below min_free", after-before)
	}
}
