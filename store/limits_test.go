package store

import (
	"bytes"
	"context"
	"errors"
	"net/http"
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
