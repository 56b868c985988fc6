package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// progress draws a progress bar on a terminal, on one line redrawn in
// place (at most ten times a second). Where the output is not a terminal
// it draws nothing: a log or a pipe gets only the result.
type progress struct {
	w     io.Writer // nil: draw nothing
	label string
	total int64
	n     int64
	bytes bool // count bytes (shown as KiB, MiB, ...), not steps
	width int
	last  time.Time
	drawn bool
	now   func() time.Time
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{label: label, width: 30, now: time.Now}
	if isTerminal(w) {
		p.w = w
	}
	return p
}

// newByteProgress is a progress counted in bytes.
func newByteProgress(w io.Writer, label string) *progress {
	p := newProgress(w, label)
	p.bytes = true
	return p
}

// setTotal sets how many steps (or bytes) there are; 0 or less: unknown.
func (p *progress) setTotal(n int64) { p.total = n; p.draw(true) }

// step counts one step done.
func (p *progress) step() { p.set(p.n + 1) }

// set sets how many steps (or bytes) are done.
func (p *progress) set(n int64) { p.n = n; p.draw(p.n == p.total) }

// Write counts bytes written through it, so that a copy can be watched
// with io.TeeReader.
func (p *progress) Write(b []byte) (int, error) { p.set(p.n + int64(len(b))); return len(b), nil }

func (p *progress) count(n int64) string {
	if p.bytes {
		return bytesHuman(n)
	}
	return strconv.FormatInt(n, 10)
}

func (p *progress) draw(force bool) {
	if p.w == nil || (!force && p.now().Sub(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = p.now()
	p.drawn = true
	fmt.Fprint(p.w, "\r"+p.line()+"\033[K")
}

// line is the bar as text: "replaying [#####.....] 12/24 50%".
func (p *progress) line() string {
	if p.total <= 0 {
		return fmt.Sprintf("%s %s", p.label, p.count(p.n))
	}
	done := int(min(p.n*int64(p.width)/p.total, int64(p.width)))
	return fmt.Sprintf("%s [%s%s] %s/%s %d%%", p.label, strings.Repeat("#", done), strings.Repeat(".", p.width-done),
		p.count(p.n), p.count(p.total), min(p.n*100/p.total, 100))
}

// finish ends the bar's line, so what follows starts on its own.
func (p *progress) finish() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
