package store

import (
	"testing"
	"time"
)

func TestIDGen_Monotonic(t *testing.T) {
	var g idGen
	now := time.Unix(1700000000, 0)
	prev := ""
	for i := 0; i < 1000; i++ {
		// The clock steps back and forth; ids still increase.
		at := now.Add(time.Duration((i%7)-3) * time.Millisecond)
		id := g.next(at)
		if id <= prev {
			t.Fatalf("next() = %q after %q; want increasing", id, prev)
		}
		prev = id
	}
}

func TestID_RoundTrip(t *testing.T) {
	for _, tc := range []struct{ ms, seq uint64 }{{0, 0}, {1, 2}, {1700000000123, 77}, {1<<48 - 1, 0xFFFFFFFF}} {
		id := encodeID(tc.ms, tc.seq)
		ms, seq, ok := decodeID(id)
		if !ok || ms != tc.ms || seq != tc.seq {
			t.Errorf("decodeID(encodeID(%d, %d)) = %d, %d, %v", tc.ms, tc.seq, ms, seq, ok)
		}
	}
}

func TestIDGen_Observe(t *testing.T) {
	var g idGen
	future := encodeID(uint64(time.Now().Add(time.Hour).UnixMilli()), 5)
	g.observe(future)
	if id := g.next(time.Now()); id <= future {
		t.Fatalf("next() = %q; want after observed %q", id, future)
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{"": false, "01HZZZZZZZZZZZZZ": true, "01HZZZZZZZZZZZZU": false, "../etc/passwd": false} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v; want %v", s, got, want)
		}
	}
}
