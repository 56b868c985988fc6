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
	"testing"
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
