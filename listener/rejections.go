package listener

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd/internal/textcut"
)

// Rejection is a refused request, kept in memory to answer "why didn't my
// delivery get through?". It names the check that failed, never a secret.
type Rejection struct {
	Time   time.Time `json:"time"`
	Hook   string    `json:"hook,omitempty"`
	Path   string    `json:"path"`
	Remote string    `json:"remote"`
	Status int       `json:"status"`
	Check  string    `json:"check"`
	Reason string    `json:"reason"`
}

// rejections is a ring of the most recent refusals.
type rejections struct {
	mu   sync.Mutex
	ring []Rejection
	next int
	full bool
}

func newRejections(n int) *rejections { return &rejections{ring: make([]Rejection, n)} }

func (r *rejections) add(x Rejection) {
	// Each entry is bounded, as the ring is: a client writes its path,
	// and a reason may quote what it sent.
	x.Path = textcut.Cut(x.Path, 200)
	x.Reason = textcut.Cut(x.Reason, 300)
	x.Hook = textcut.Cut(x.Hook, 100)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = x
	r.next = (r.next + 1) % len(r.ring)
	if r.next == 0 {
		r.full = true
	}
}

func (r *rejections) list() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.ring)
	}
	out := make([]Rejection, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.ring[(r.next-i+len(r.ring))%len(r.ring)])
	}
	return out
}
