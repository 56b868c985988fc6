package store

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
)

// TestStore_IngestKeepsNoBody: the writer's batch kept its last ops (each
// holding its event's body and raw record) until the next write came.
// After a delivery of 36 MiB the daemon's live heap stayed at 78 MB, over
// its 64 MiB memory limit, and its garbage collector ran some 500 times
// a second, a CPU's worth, until another delivery came. Once Ingest has
// returned, nothing of the store holds the body.
func TestStore_IngestKeepsNoBody(t *testing.T) {
	s, _ := openTest(t, Options{})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	ne := newEvent("site", "d-big")
	ne.Body = bytes.Repeat([]byte("x"), 16<<20)
	if _, err := s.Ingest(context.Background(), ne); err != nil {
		t.Fatal(err)
	}
	ne = nil
	var held uint64
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// The writer lets go once it has signalled the op done.
		h := heap()
		if held = h - min(h, base); held < 8<<20 || time.Now().After(deadline) {
			break
		}
	}
	if held >= 8<<20 {
		t.Errorf("after a delivery of 16 MiB, the heap holds %d MB more than before it; want the body let go", held>>20)
	}
}
