// Package gctune sets the garbage collector the way the daemon runs it.
// webhookd serve and the benchmark's in-process server (webhookd-bench
// serve) share it, so that the two are measured alike.
package gctune

import "runtime/debug"

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
