package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// lockTry is how long one try of OpenWait waits for the lock: a lock
// held only for a moment (that of a daemon killed a moment ago, which
// outlives it by some milliseconds) is got in the first try, before
// OpenWait says it waits; and how soon it sees ctx end.
const lockTry = 500 * time.Millisecond

// OpenWait is Open for a daemon's start: while another process holds the
// file's lock (ErrLocked), it tries again until the lock is let go, wait
// has passed, or ctx ends. waiting, when set, is called once, when the
// first try found the lock held. opts.Timeout is not used: each try waits
// up to lockTry.
func OpenWait(ctx context.Context, path string, opts Options, wait time.Duration, waiting func()) (*Store, error) {
	deadline := time.Now().Add(wait)
	for try := 0; ; try++ {
		o := opts
		o.Timeout = max(min(lockTry, time.Until(deadline)), time.Millisecond)
		st, err := Open(path, o)
		if !errors.Is(err, ErrLocked) {
			return st, err
		}
		if try == 0 && waiting != nil {
			waiting()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("open %s: stopped while waiting for its lock: %w", path, ctx.Err())
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w; waited %v for it", err, wait)
		}
	}
}
