package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a progress bar on a terminal, on one line redrawn in
// place (at most ten times a second). Where the output is not a terminal
// it draws nothing: a log or a pipe gets only the result.
type progress struct {
	w     io.Writer // nil: draw nothing
	label string
	total int
	n     int
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

// setTotal sets how many steps there are.
func (p *progress) setTotal(n int) { p.total = n; p.draw(true) }

// step counts one step done.
func (p *progress) step() { p.n++; p.draw(p.n == p.total) }

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
		return fmt.Sprintf("%s %d", p.label, p.n)
	}
	done := min(p.n*p.width/p.total, p.width)
	return fmt.Sprintf("%s [%s%s] %d/%d %d%%", p.label, strings.Repeat("#", done), strings.Repeat(".", p.width-done),
		p.n, p.total, p.n*100/p.total)
}

// finish ends the bar's line, so what follows starts on its own.
func (p *progress) finish() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
