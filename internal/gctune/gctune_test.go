package gctune

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestApply: the daemon's GC settings apply unless GOGC or GOMEMLIMIT set
// their own.
func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	Apply(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != Percent {
		t.Errorf("GC percent = %d; want %d", got, Percent)
	}
	if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
		t.Errorf("memory limit = %d; want %d", got, MemoryLimit)
	}

	debug.SetGCPercent(77)
	debug.SetMemoryLimit(math.MaxInt64)
	Apply(func(k string) string { return map[string]string{"GOGC": "77", "GOMEMLIMIT": "1GiB"}[k] })
	if got := debug.SetGCPercent(100); got != 77 {
		t.Errorf("with GOGC set, GC percent = %d; want it left alone (77)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory limit = %d; want it left alone", got)
	}
}
