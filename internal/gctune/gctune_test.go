package gctune

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// TestIdle_Due: a release is due at the first quiet look after enough
// work, not while the process allocates, and not again until it has
// worked again.
func TestIdle_Due(t *testing.T) {
	const mb = 1 << 20
	i := &Idle{Quiet: 1 * mb, Worked: 16 * mb}
	for _, tc := range []struct {
		allocated uint64 // so far, at this look
		want      bool
		why       string
	}{
		{0, false, "nothing done"},
		{10 * mb, false, "busy"},
		{20 * mb, false, "busy, though past Worked"},
		{20*mb + 1000, true, "quiet after 20 MB of work"},
		{20*mb + 2000, false, "quiet, but released since and nothing done"},
		{30 * mb, false, "busy again"},
		{30*mb + 10, false, "quiet, but only 10 MB since the release"},
		{40 * mb, false, "busy"},
		{40 * mb, true, "quiet after 20 MB since the release"},
	} {
		got := i.due(tc.allocated)
		if got != tc.want {
			t.Fatalf("due(%d MB) = %v; want %v (%s)", tc.allocated/mb, got, tc.want, tc.why)
		}
		if got {
			i.released = tc.allocated
		}
	}
}

// TestIdle_Run: after a burst of allocation, once the process is quiet,
// Run releases memory, once, and not again while nothing more is done.
func TestIdle_Run(t *testing.T) {
	var calls atomic.Int64
	i := &Idle{Every: 20 * time.Millisecond, Quiet: 1 << 20, Worked: 8 << 20,
		Release: func() { calls.Add(1); debug.FreeOSMemory() }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); i.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(50 * time.Millisecond) // Run has read where it starts
	if n := i.Releases(); n != 0 {
		t.Fatalf("releases = %d before any work; want 0", n)
	}

	var keep [][]byte
	for range 256 { // 32 MiB
		keep = append(keep, make([]byte, 128<<10))
	}
	runtime.KeepAlive(keep)
	keep = nil
	deadline := time.Now().Add(5 * time.Second)
	for i.Releases() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := i.Releases(); n != 1 || calls.Load() != 1 {
		t.Fatalf("releases = %d (Release called %d times) after the burst; want 1", n, calls.Load())
	}
	time.Sleep(200 * time.Millisecond)
	if n := i.Releases(); n != 1 {
		t.Errorf("releases = %d while nothing was done since the first; want 1", n)
	}
}

// TestRelease: what a sync.Pool held is freed by one Release, which a
// single collection (debug.FreeOSMemory alone) does not do.
func TestRelease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release func()
		freed   bool
	}{
		{"FreeOSMemory", debug.FreeOSMemory, false},
		{"Release", Release, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			freed := make(chan struct{})
			var pool sync.Pool
			buf := new([64 << 10]byte)
			runtime.AddCleanup(buf, func(ch chan struct{}) { close(ch) }, freed)
			pool.Put(buf)
			buf = nil
			tc.release()
			select {
			case <-freed:
				if !tc.freed {
					t.Errorf("the pooled buffer was freed by one collection; this test no longer shows why Release collects twice")
				}
			case <-time.After(time.Second):
				if tc.freed {
					t.Errorf("the pooled buffer is still live after Release")
				}
			}
			runtime.KeepAlive(&pool)
		})
	}
}

// TestReadmeNumbers: README, Memory: GOGC=400 and GOMEMLIMIT=64MiB unless
// the environment sets them, and a release after less than 1 MiB
// allocated in 5 s, following at least 16 MiB since the last one.
func TestReadmeNumbers(t *testing.T) {
	if Percent != 400 || MemoryLimit != 64<<20 {
		t.Errorf("Percent %d, MemoryLimit %d; the README says 400 and 64 MiB", Percent, MemoryLimit)
	}
	i := NewIdle()
	if i.Every != 5*time.Second || i.Quiet != 1<<20 || i.Worked != 16<<20 {
		t.Errorf("NewIdle() = every %v, quiet %d, worked %d; the README says 5 s, 1 MiB, 16 MiB", i.Every, i.Quiet, i.Worked)
	}
}
