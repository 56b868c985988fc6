package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStore_LargeRecords32: on a 32-bit platform bbolt reads a leaf page's
// records through a window of 256 MiB and puts up to four records in a
// page: four deliveries of 70 MiB were stored, and reading the fourth
// panicked the daemon (and its every start after, as the scheduler read it
// again). The store refuses a record past a quarter of the window, and four
// of the largest body it takes, with headers near the listener's limit,
// read back whole.
func TestStore_LargeRecords32(t *testing.T) {
	if !is32bit {
		t.Skip("the store sets no size limit of its own on a 64-bit platform")
	}
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	for i := range 4 {
		ne := newEvent("h", "")
		ne.Body = make([]byte, 70<<20)
		if _, err := s.Ingest(ctx, ne); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("delivery %d of 70 MiB: Ingest = %v; want ErrTooLarge (bbolt cannot read four of them back)", i, err)
		}
	}
	header := http.Header{"X-Big": {strings.Repeat("h", 60<<10)}}
	var ids []string
	for i := range 4 {
		ne := newEvent("h", "")
		ne.Header = header
		ne.Body = bytes.Repeat([]byte{byte('a' + i)}, int(MaxBody()))
		res, err := s.Ingest(ctx, ne)
		if err != nil {
			t.Fatalf("delivery %d of MaxBody (%d bytes): %v", i, MaxBody(), err)
		}
		ids = append(ids, res.ID)
	}
	for i, id := range ids {
		ev, err := s.GetEvent(id, true)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if int64(len(ev.Body)) != MaxBody() || ev.Body[0] != byte('a'+i) || ev.Body[len(ev.Body)-1] != byte('a'+i) || ev.Header.Get("X-Big") != header.Get("X-Big") {
			t.Errorf("event %d read back with a body of %d bytes; want %d of %q and its header", i, len(ev.Body), MaxBody(), rune('a'+i))
		}
	}
}

// TestOpen_FileTooLargeForPlatform: bbolt takes a file's size as an int,
// and on a 32-bit platform one of 2.5 GiB (a database brought from a
// 64-bit machine) failed to open with "file size too small -1610612736",
// and one of 4.5 GiB opened as if it were 512 MiB. Open, the consistency
// check and compact say what is wrong and leave the file alone; a 64-bit
// platform opens both.
func TestOpen_FileTooLargeForPlatform(t *testing.T) {
	for _, size := range []int64{5 << 29, 9 << 29} {
		path := filepath.Join(t.TempDir(), "big.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Ingest(context.Background(), newEvent("h", "d"))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// Pages past the data, as a file that held more before: sparse.
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		if !is32bit {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("%d bytes: %v", size, err)
			}
			if _, err := s.GetEvent(res.ID, false); err != nil {
				t.Errorf("%d bytes: %v", size, err)
			}
			s.Close()
			continue
		}
		want := fmt.Sprintf("the file is %d bytes; on this 32-bit platform the database can be at most 2147483647", size)
		for _, opts := range []Options{{}, {ReadOnly: true}} {
			s, err := Open(path, opts)
			if err == nil {
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Open of %d bytes (read-only %v) = %v; want %q", size, opts.ReadOnly, err, want)
			}
		}
		if err := CheckFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckFile of %d bytes = %v; want %q", size, err, want)
		}
		if _, err := Compact(context.Background(), path, path, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compact of %d bytes = %v; want %q", size, err, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Errorf("the file after: %v, %v; want it untouched, %d bytes", fi, err, size)
		}
	}
}

// TestStore_MaxData: where the platform caps the data (MaxData, 1.5 GiB
// on 32-bit; a small cap here), Ingest refuses new events once the data in
// use would pass it, and writes nothing; the other writes go on; what
// retention deletes makes room again at the next look.
func TestStore_MaxData(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	const max = 4 << 20
	s, _ := openTest(t, Options{Now: now, maxData: max})
	ctx := context.Background()
	ev := func(i int) *NewEvent {
		e := newEvent("h", fmt.Sprint(i))
		e.Body = bytes.Repeat([]byte("x"), 100<<10)
		return e
	}
	accepted := 0
	var err error
	for i := range 100 {
		if _, err = s.Ingest(ctx, ev(i)); err != nil {
			break
		}
		accepted++
	}
	// Counted between looks too: about 4 MiB of 100 KiB bodies, less
	// what the empty database takes.
	if !errors.Is(err, ErrStoreFull) || accepted < 30 || accepted > 41 {
		t.Fatalf("after %d events of 100 KiB under a cap of 4 MiB: %v; want ErrStoreFull after 30 to 40", accepted, err)
	}
	if want := fmt.Sprintf("at most %d here", max); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q; want it to say %q", err, want)
	}
	st, _ := s.Stats()
	if st.Events != accepted {
		t.Errorf("%d events stored, %d accepted: a refused one was written", st.Events, accepted)
	}
	// Small ones are refused too once the measured data is at the cap.
	clock.Add(int64(diskRecheck))
	for i := 100; ; i++ {
		e := newEvent("h", fmt.Sprint(i))
		if _, err := s.Ingest(ctx, e); err != nil {
			if !errors.Is(err, ErrStoreFull) {
				t.Fatalf("small event at the cap: %v; want ErrStoreFull", err)
			}
			break
		}
		if i > 1000 {
			t.Fatal("small events accepted past the cap")
		}
	}
	// Writes other than ingest go on: jobs must be able to finish.
	if err := s.SetPaused(ctx, "h", "a", true); err != nil {
		t.Errorf("SetPaused at the cap: %v", err)
	}
	// Retention makes room; the next look lets events in again.
	if n, err := s.PruneToSize(ctx, max/2); err != nil || n == 0 {
		t.Fatalf("PruneToSize = %d, %v", n, err)
	}
	clock.Add(int64(diskRecheck))
	if _, err := s.Ingest(ctx, ev(1000)); err != nil {
		t.Errorf("Ingest after retention made room: %v", err)
	}
	if err := s.Refusing(); err != nil {
		t.Errorf("Refusing = %v; want nil with room", err)
	}
}

// TestStore_FillToMaxData32: on a 32-bit platform, a database filled with
// deliveries failed every commit that needed more room as its data neared
// 2 GiB, with bbolt's "file resize error: truncate ...: invalid argument":
// ingest, and the runs of jobs too. It now refuses new events at MaxData
// (ErrStoreFull), a run still finishes, and retention makes room. It
// writes 1.5 GiB.
func TestStore_FillToMaxData32(t *testing.T) {
	if !is32bit {
		t.Skip("the store sets no ceiling of its own on a 64-bit platform")
	}
	if testing.Short() {
		t.Skip("writes 1.5 GiB")
	}
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	_, jobID := queued(t, s, job("deploy"))
	if started, err := s.Start(ctx, jobID); err != nil || len(started) != 1 {
		t.Fatalf("Start = %v, %v", started, err)
	}
	var err error
	for i := 0; err == nil; i++ {
		e := newEvent("h", "")
		e.Body = make([]byte, 4<<20)
		_, err = s.Ingest(ctx, e)
		if i > 1000 {
			t.Fatal("4 GiB ingested")
		}
	}
	live, _ := s.LiveSize()
	if !errors.Is(err, ErrStoreFull) || live < MaxData()-8<<20 {
		t.Fatalf("filling the database: %v with %d bytes in use; want ErrStoreFull at %d", err, live, MaxData())
	}
	if _, err := s.Finish(ctx, jobID, Outcome{State: Succeeded, Concurrency: 1, Run: Run{Result: RunSucceeded, Output: make([]byte, MaxOutput)}}); err != nil {
		t.Errorf("Finish at the ceiling: %v", err)
	}
	if n, err := s.PruneToSize(ctx, MaxData()/2); err != nil || n == 0 {
		t.Fatalf("PruneToSize = %d, %v", n, err)
	}
	time.Sleep(diskRecheck)
	e := newEvent("h", "")
	e.Body = make([]byte, 4<<20)
	if _, err := s.Ingest(ctx, e); err != nil {
		t.Errorf("Ingest after retention made room: %v", err)
	}
}
