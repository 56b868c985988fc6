package actions

import (
	"sync"
	"unicode/utf8"
)

// tail keeps the last max bytes written to it.
type tail struct {
	mu    sync.Mutex
	buf   []byte // ring of cap max
	start int    // index of the oldest byte once full
	full  bool
	total int64
	max   int
}

// newTail makes a tail of max bytes. Its buffer grows as output comes
// (most commands print little), up to max.
func newTail(max int) *tail { return &tail{buf: make([]byte, 0, min(max, 4<<10)), max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.total += int64(n)
	if len(p) >= t.max {
		p = p[len(p)-t.max:]
		t.buf = append(t.buf[:0], p...)
		t.start, t.full = 0, true
		return n, nil
	}
	if !t.full {
		room := t.max - len(t.buf)
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.full = true
		t.start = 0
	}
	for len(p) > 0 {
		c := copy(t.buf[t.start:], p)
		p = p[c:]
		t.start = (t.start + c) % t.max
	}
	return n, nil
}

// bytes returns the kept bytes, oldest first, and whether earlier ones were
// dropped (then it starts at a character, not inside one).
func (t *tail) bytes() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]byte(nil), t.buf...), false
	}
	out := make([]byte, 0, t.max)
	out = append(out, t.buf[t.start:]...)
	out = append(out, t.buf[:t.start]...)
	cut := t.total > int64(t.max)
	if cut {
		// The cut may have split a character: its last bytes would
		// show as garbage at the top of the output.
		for i := 0; i < utf8.UTFMax-1 && len(out) > 0 && !utf8.RuneStart(out[0]); i++ {
			out = out[1:]
		}
	}
	return out, cut
}
