// Package gctune sets the garbage collector the way the daemon runs it
// (Apply), and hands freed memory back to the system once the daemon has
// gone quiet after work (Idle). webhookd serve and the benchmark's
// in-process server (webhookd-bench serve) share Apply, so that the two
// are measured alike; Idle has nothing to do under a benchmark's load.
package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Percent and MemoryLimit are the daemon's garbage collector settings
// unless GOGC or GOMEMLIMIT say otherwise: collect when the heap has grown
// to five times what is live, or near 64 MiB, whichever comes first.
// Ingest allocates about 40 KB per request and keeps little, so Go's
// default (twice what is live, a heap of a few MB) collected a hundred
// times a second under load; these settings cut the server's CPU per
// request by about a fifth (docs/benchmarks.md) for some 20 MB more
// memory under load.
const (
	Percent     = 400
	MemoryLimit = 64 << 20
)

// Apply sets Percent and MemoryLimit where the environment (getenv) does
// not set GOGC or GOMEMLIMIT.
func Apply(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}

// Idle returns freed memory to the operating system once the process has
// gone quiet after work. With Percent and MemoryLimit the heap grows to
// tens of MB under a burst of deliveries and, when the burst ends, stays
// there: no allocation comes to trigger a collection, and the runtime's
// scavenger keeps what is below the heap goal. An idle daemon would hold
// 40 MB of RssAnon for as long as it runs (docs/benchmarks.md, idle
// memory); Idle collects once and releases what is free.
type Idle struct {
	// Every is how often it looks: the process is idle when it allocated
	// less than Quiet bytes since the last look.
	Every time.Duration
	Quiet uint64
	// Worked is how much it must have allocated since the last release
	// for another to be worth a collection.
	Worked uint64
	// Release is [Release] unless set (tests).
	Release func()

	releases       atomic.Int64
	last, released uint64 // bytes allocated at the last look, at the last release
}

// NewIdle is an Idle with the daemon's settings: a look every 5 s; idle
// below 1 MiB allocated since the last; a release after 16 MiB.
func NewIdle() *Idle {
	return &Idle{Every: 5 * time.Second, Quiet: 1 << 20, Worked: 16 << 20}
}

// Releases is how many times Run has released memory.
func (i *Idle) Releases() int64 { return i.releases.Load() }

// Run looks every i.Every until ctx ends.
func (i *Idle) Run(ctx context.Context) {
	release := i.Release
	if release == nil {
		release = Release
	}
	i.last = allocated()
	i.released = i.last
	t := time.NewTicker(i.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if i.due(allocated()) {
			release()
			i.releases.Add(1)
			i.released = allocated()
			i.last = i.released
		}
	}
}

// Release collects twice and returns the free heap to the operating
// system. One collection is not enough: a sync.Pool (net/http's buffers
// of every connection, for one) keeps what it held through a collection,
// in its victim cache, and lets it go only at the next; after a burst of
// 64 connections that was 2 MB of the 3.6 MB still live (docs/benchmarks.md).
func Release() {
	runtime.GC()
	debug.FreeOSMemory()
}

// due takes a look: now is the bytes allocated so far. It reports
// whether the process is quiet since the last look and has worked since
// the last release.
func (i *Idle) due(now uint64) bool {
	quiet := now-i.last < i.Quiet
	i.last = now
	return quiet && now-i.released >= i.Worked
}

// allocated is the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
