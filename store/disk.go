package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrFileGone is returned by Ingest once the database file is no longer
// at its path (removed, or replaced, as by a restore while webhookd ran):
// what would be written now goes to a file no start opens again.
var ErrFileGone = errors.New("the database file is no longer at its path (removed or replaced while webhookd ran): new events are refused; save what this process holds with webhookd backup FILE, then restart it")

// ErrLowDisk is returned by Ingest while the free space on the database's
// file system is below the minimum (Options.MinFree, SetMinFree): webhookd
// refuses new events rather than fill the disk.
var ErrLowDisk = errors.New("free disk space below min_free")

// diskRecheck is how often the guard asks the file system for its free
// space. Between two looks it subtracts what was ingested meanwhile, so a
// burst cannot run far past the limit unseen.
const diskRecheck = time.Second

// diskGuard keeps ingest from filling the disk. It asks the file system
// at most once per diskRecheck, not per request.
type diskGuard struct {
	dir     string
	free    func(dir string) (int64, error)
	now     func() time.Time
	onLow   func(low bool, free, min int64)
	minFree atomic.Int64
	// The database file as opened, and whether the path still names it
	// (looked at with the free space): onGone is told when that changes.
	path   string
	opened os.FileInfo
	gone   atomic.Bool
	onGone func(gone bool)

	mu      sync.Mutex   // held by the goroutine refreshing
	checked atomic.Int64 // unix nanoseconds of the last look
	again   atomic.Bool  // lookAgain was asked since the last look began
	last    atomic.Int64 // free bytes at the last look
	written atomic.Int64 // bytes ingested since the last look
	low     atomic.Bool  // the last verdict, for logging the change
	failed  atomic.Bool  // the last look failed: no verdict
	// spare is the room inside the database file at the last look
	// (spareIn): writes there take no space from the file system, so
	// it counts as free beside the file system's own.
	spare   atomic.Int64
	spareIn func() int64

	// The ceiling on the data in use where the platform has one (MaxData;
	// 0: none), and the data's size (LiveSize): at the last look, and the
	// bytes ingested since.
	maxData int64
	size    func() (int64, error)
	live    atomic.Int64
	added   atomic.Int64
}

func newDiskGuard(path string, opts Options, now func() time.Time, onLow func(bool, int64, int64), onGone func(bool)) *diskGuard {
	free := opts.FreeSpace
	if free == nil {
		free = freeSpace
	}
	g := &diskGuard{dir: filepath.Dir(path), free: free, now: now, onLow: onLow, path: path, onGone: onGone}
	g.opened, _ = os.Stat(path)
	g.minFree.Store(opts.MinFree)
	return g
}

// check returns ErrLowDisk (wrapped with the numbers) when ingesting n more
// bytes would leave less than the minimum free, as far as the guard knows.
func (g *diskGuard) check(n int) error {
	if g == nil {
		return nil
	}
	if g.due(g.now().UnixNano()) {
		g.refresh()
	}
	if g.gone.Load() {
		return ErrFileGone
	}
	if g.maxData > 0 {
		live := g.live.Load() + g.added.Add(int64(n))
		if live > g.maxData {
			// Not written: not counted (as below).
			g.added.Add(-int64(n))
			return fmt.Errorf("%w (%d bytes of data in use, at most %d here)", ErrStoreFull, live-int64(n), g.maxData)
		}
	}
	min := g.minFree.Load()
	if min <= 0 {
		return nil
	}
	if g.failed.Load() {
		return nil // the file system would not say: let the write itself fail
	}
	spare := g.spare.Load()
	free := g.last.Load() + spare - g.written.Add(int64(n))
	if free < min {
		// Not written: not counted, or one large refused delivery would
		// turn away the small ones that fit until the next look.
		g.written.Add(-int64(n))
		return fmt.Errorf("%w: %d bytes free (%d of them spare inside the database file), min_free is %d", ErrLowDisk, max(free+int64(n), 0), spare, min)
	}
	return nil
}

// lookAgain makes the next delivery look at the disk again rather than
// use the last look's figures: after a setting changed, or after pruning
// freed pages inside the file, which take deliveries a low disk refused.
// Asked during a look, whose figures may predate what changed, it makes
// another look follow that one (refresh).
func (g *diskGuard) lookAgain() {
	if g != nil {
		// The flag first: a look that ends after this keeps its time
		// over the 0 below, and then sees the flag.
		g.again.Store(true)
		g.checked.Store(0)
	}
}

// due reports whether the last look at the disk is old enough to look
// again, or in the future: a clock stepped back must not make the guard
// keep its last figure (a low one refuses every delivery) until the clock
// catches up.
func (g *diskGuard) due(now int64) bool {
	d := now - g.checked.Load()
	return d >= int64(diskRecheck) || d < 0
}

// refresh asks the file system; one goroutine at a time, the others use
// the previous answer.
func (g *diskGuard) refresh() {
	if !g.mu.TryLock() {
		return
	}
	defer g.mu.Unlock()
	now := g.now().UnixNano()
	if !g.due(now) {
		return
	}
	// This look answers the requests to look again made so far. One made
	// while it looks (a prune that freed room after it read a figure)
	// would be lost when it keeps its time: the next check looks again.
	g.again.Store(false)
	defer func() {
		if g.again.Load() {
			g.checked.Store(0)
		}
	}()
	if g.opened != nil {
		fi, err := os.Stat(g.path)
		gone := err != nil || !os.SameFile(fi, g.opened)
		if g.gone.Swap(gone) != gone && g.onGone != nil {
			g.onGone(gone)
		}
	}
	// What requests count from here on, while the look reads its figures,
	// stays counted after it: those figures may predate those writes. Only
	// what was counted before the look began is taken as in them.
	added, written := g.added.Load(), g.written.Load()
	if g.maxData > 0 {
		if live, err := g.size(); err == nil {
			g.live.Store(live)
			g.added.Add(-added)
		}
	}
	free, err := g.free(g.dir)
	if err != nil {
		g.failed.Store(true)
		g.checked.Store(now)
		return
	}
	var spare int64
	if g.spareIn != nil {
		spare = g.spareIn()
	}
	// The figures first, then the time: a request that sees this look's
	// time uses this look's figures.
	g.last.Store(free)
	g.spare.Store(spare)
	g.written.Add(-written)
	g.failed.Store(false)
	g.checked.Store(now)
	min := g.minFree.Load()
	low := free+spare < min
	if g.low.Swap(low) != low && g.onLow != nil {
		g.onLow(low, free, min)
	}
}

// SetMinFree changes the free space below which Ingest answers ErrLowDisk
// (0 turns the check off); it takes effect at the next look at the disk.
func (s *Store) SetMinFree(n int64) {
	if s.disk == nil {
		return
	}
	s.disk.minFree.Store(n)
	s.disk.lookAgain()
	if n <= 0 && s.disk.low.Swap(false) {
		// Off while the disk was low: say that deliveries are let in,
		// and a low disk after the check is on again is a new episode.
		s.log.Info("min_free is off: new events are accepted however little disk space is free", "free", s.disk.last.Load())
	}
}

// Refusing returns why Ingest refuses new events now (ErrLowDisk, with
// the numbers, or ErrFileGone), or nil. Like Ingest, it looks at the disk
// again when its last look is more than a second old, so a monitor sees
// the state without a delivery having to be refused first.
func (s *Store) Refusing() error {
	if s.disk == nil {
		return nil
	}
	return s.disk.check(0)
}

// LiveSize returns the bytes the database's pages in use take: the file's
// high-water mark less its free pages (and the pages freed but still seen
// by a reader). Deleting events lowers it at once; the file itself keeps
// its size and reuses the space (`webhookd compact` shrinks it).
func (s *Store) LiveSize() (int64, error) {
	var size int64
	err := s.db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	if err != nil {
		return 0, err
	}
	return size - int64(s.db.Stats().FreeAlloc), nil
}

// spareInFile returns the room inside the database file that writes can
// take without taking disk space: its free pages, which retention (or
// max_size) freed and which once held data. (Not the file's end past its
// data: bbolt grows the file with a truncate, which leaves a hole that
// takes disk space as it is written.) Less a margin of bbolt's growth step
// (16 MiB) for writes that find no run of free pages long enough and take
// new ones at the end. Pages freed by the last commits are counted when no
// reader holds them (the next write takes them back), not while one does
// (a backup under way). A file that filled the disk and was then pruned
// takes deliveries again, in the pages it already has. It reads bbolt's
// figures only, not its map of the file, so that a look at the disk after
// Close (a delivery still in flight) is ErrClosed, not a panic.
func (s *Store) spareInFile() int64 {
	st := s.db.Stats()
	pages := st.FreePageN
	if st.OpenTxN == 0 {
		pages += st.PendingPageN
	}
	return max(0, int64(pages)*int64(s.pageSize)-int64(s.db.AllocSize))
}

func (s *Store) logFileGone(gone bool) {
	if gone {
		s.log.Error(ErrFileGone.Error(), "path", s.disk.path)
	} else {
		s.log.Info("the database file is at its path again: new events are accepted", "path", s.disk.path)
	}
}

func (s *Store) logLowDisk(low bool, free, min int64) {
	if low {
		s.log.Warn("free disk space below min_free: new events are refused (503) until there is room", "free", free, "spare_in_database", s.disk.spare.Load(), "min_free", min, "dir", s.disk.dir)
	} else {
		s.log.Info("free disk space above min_free again: new events are accepted", "free", free, "spare_in_database", s.disk.spare.Load(), "min_free", min)
	}
}

// PruneToSize deletes the oldest finished events while the live data
// (LiveSize) is over max bytes. Each step deletes at most as many events
// as the excess needs, judged by their sizes, then measures again, so it
// does not overshoot by a whole batch. Events with unfinished jobs are
// kept even if that leaves the store over max. It returns how many events
// it deleted.
func (s *Store) PruneToSize(ctx context.Context, max int64) (int, error) {
	total := 0
	after := "" // the events up to it were looked at: the held ones stay
	for {
		live, err := s.LiveSize()
		if err != nil {
			return total, fmt.Errorf("database size: %w", err)
		}
		if live <= max {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, next, err := s.pruneBytes(ctx, live-max, after)
		total += n
		if n > 0 {
			s.disk.lookAgain()
		}
		if err != nil || next == "" {
			return total, err
		}
		after = next
	}
}

// eventOverhead and twice the body are a generous guess at what deleting
// an event frees (pages are rarely full): an overestimate only makes
// PruneToSize take another, smaller step, where an underestimate would
// delete events it did not have to.
const eventOverhead = 2048

// pruneBytes deletes, in one transaction, the oldest finished events after
// the id after until their estimated size reaches excess, PruneBatch of
// them, or maxPruneScan looked at. It returns the id to go on after, or ""
// when it looked at every event: past a backlog of more than maxPruneScan
// unfinished events, the next call goes on where this one stopped.
func (s *Store) pruneBytes(ctx context.Context, excess int64, after string) (int, string, error) {
	deleted := 0
	next := ""
	err := s.update(ctx, false, func(tx *bolt.Tx) error {
		deleted, next = 0, ""
		var doomed []*pruned
		freed := int64(0)
		c := tx.Bucket(bEvents).Cursor()
		k, v := firstAfter(c, after)
		scanned, last := 0, ""
		for ; k != nil; k, v = c.Next() {
			if freed >= excess || len(doomed) == PruneBatch || scanned == s.pruneScanLimit() {
				next = last
				break
			}
			scanned++
			last = string(k)
			p, err := readPruned(tx, string(k))
			if err != nil {
				return err
			}
			if p.finished() {
				doomed = append(doomed, p)
				size := len(v) // a damaged event's: its record's
				if p.ev != nil {
					size = p.ev.Size
				}
				freed += 2*int64(size) + eventOverhead
			}
		}
		for _, p := range doomed {
			if err := s.deletePruned(tx, p); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		return nil
	})
	return deleted, next, err
}
