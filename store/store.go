package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names.
var (
	bEvents = []byte("events") // event id → event (JSON)
	bRaw    = []byte("raw")    // event id → headers, query, body
	bDedup  = []byte("dedup")  // hook \0 delivery → event id (written behind: dedup.go)
	bJobs   = []byte("jobs")   // job id → job (JSON)
	bRuns   = []byte("runs")   // job id + attempt (4 bytes) → run (JSON)
	bState  = []byte("state")  // state \0 job id → nil
	bQueue  = []byte("queue")  // hook \0 action \0 key \0 job id → flag
	bDue    = []byte("due")    // bucket per hook \0 action: due time (8) + job id → key
	bMeta   = []byte("meta")   // counters, pauses, version
	// bRunning is hook \0 action \0 key \0 → the count of the queue's
	// running jobs (queueRuns): kept while a process runs them, emptied by
	// Open. A file without it (an older build's) reads as it is.
	bRunning = []byte("running")
)

var allBuckets = [][]byte{bEvents, bRaw, bDedup, bJobs, bRuns, bState, bQueue, bDue, bMeta, bRunning}

// metaInstance is the key of the database's random name (Store.Instance).
var metaInstance = []byte("instance")

// packedBuckets are the buckets whose keys arrive in order: event and job
// ids, which grow. bbolt splits a full leaf in two halves by default
// (FillPercent 0.5), which suits keys that land anywhere; keys that land
// at the end leave every left half half empty for good. Filled to the
// brim, those trees take half the pages and a commit rewrites fewer of
// them (docs/benchmarks.md, "Leaves filled to the brim"). A packed leaf
// splits into a full one and a small one, so keys that land at several
// places fare worse than with bbolt's split, and those buckets are left
// out: runs arrive in the order jobs finish, queue entries at the end of
// each of many queues, and the state index grows at the end of each
// state's region (TestStore_PackedLeaves).
var packedBuckets = [][]byte{bEvents, bRaw, bJobs}

// Queue entry flags.
const (
	qWaiting = 'w' // behind the window
	qDue     = 'd' // in the window, in the due index
	qRunning = 'r' // in the window, running
)

// schemaVersion is written at creation and checked at open: a file of an
// older schema is upgraded (migrate.go), one of a newer schema refused.
// Change it, with a migration, whenever an older build would misread what
// this one writes.
const schemaVersion = "2"

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReadOnly opens the file for reading only (no commit loop runs).
	ReadOnly bool
	// Timeout is how long Open waits for another process's lock; zero
	// fails at once.
	Timeout time.Duration
	// MaxBatch caps the operations in one commit (default 2048).
	MaxBatch int
	// MaxBatchBytes caps the body bytes in one commit (default 32 MiB).
	MaxBatchBytes int
	// NoGroupCommit commits every operation in its own transaction. It
	// exists to measure what group commit buys; never set it otherwise.
	NoGroupCommit bool
	// FailWrites, when it returns an error, makes the commit fail with it
	// after the transaction's ops applied and before anything is written
	// (Open's own transaction too): the seam tests use to inject a failing
	// disk.
	FailWrites func() error
	// MinFree is the free space on the file system below which Ingest
	// refuses new events with ErrLowDisk; 0 is no check. See SetMinFree.
	MinFree int64
	// FreeSpace returns the free bytes of the file system holding dir; nil
	// asks the file system (statfs). It is the seam tests use to fake a
	// nearly full disk.
	FreeSpace func(dir string) (int64, error)

	// For tests: dedupMergeAt and dedupMergeMin override the constants,
	// dedupIdle the idle time before the dedup entries in memory are
	// written out (negative: never), and crashAtClose makes Close leave
	// the file as a crash would (no dedup entries flushed, no free-page
	// list written); maxScan and pruneScan override how many events one
	// listing and one pruning transaction look at.
	dedupMergeAt, dedupMergeMin int
	dedupIdle                   time.Duration
	crashAtClose                bool
	maxScan, pruneScan          int
	listChunk                   int // events one read transaction of ListEvents looks at
	// maxData overrides MaxData (negative: no limit).
	maxData int64
}

// Store is webhookd's database. Its methods are safe for concurrent use.
type Store struct {
	db       *bolt.DB
	pageSize int // the file's, kept at Open: bbolt's Info asserts its map, which Close unmaps
	opts     Options
	instance string // Instance
	log      *slog.Logger
	now      func() time.Time
	ids      idGen
	disk     *diskGuard  // nil when read-only
	dd       *dedupCache // the dedup entries not yet in their bucket; nil when read-only
	damage   damageLog   // the damaged records met (damage.go)
	// cut are the jobs Open found running and returned to their queues.
	cut []CutRun
	// windows is what SetWindowSize set.
	windows atomic.Pointer[func(hook, action string) int]

	ops     chan *op
	batchMu sync.Mutex    // held by the commit loop while it applies and commits a batch (settle)
	changed chan struct{} // signalled after a commit that made jobs due
	commits chan CommitInfo

	closeOnce sync.Once
	quit      chan struct{}
	done      chan struct{}
	mu        sync.RWMutex // held for reading by submitters, for writing by Close
	closed    bool
}

// CommitInfo describes one commit, for metrics.
type CommitInfo struct {
	Ops      int
	Events   int
	Duration time.Duration
	Err      error
}

// op is one unit of work for the commit loop.
type op struct {
	fn     func(tx *bolt.Tx) error
	bytes  int
	events int
	wake   bool // the scheduler should look at the due index afterwards
	done   chan error
	// applied, when set, is closed once fn has run in a transaction whose
	// every op applied, before that transaction commits: the caller may
	// act on fn's results while the commit writes them (see submitEarly).
	applied chan struct{}
}

// ErrLocked is Open's error when another process holds the database
// file's lock (after Options.Timeout). The lock cannot tell who: a daemon
// holds it while it runs, an offline command for as long as it works on
// the file (a read-only one shares it with other readers).
var ErrLocked = errors.New("another webhookd process holds it (a running daemon, or an offline command such as backup or compact)")

// Open opens (creating if needed) the database at path. Jobs that were
// running when the file was last closed go back to their queues.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2048
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 32 << 20
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 50 * time.Millisecond
	}
	bo := &bolt.Options{
		Timeout:        timeout,
		ReadOnly:       opts.ReadOnly,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}
	db, err := openCurrent(path, bo)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		// bbolt's own error names the file already.
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			err = pe.Err
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		pageSize: db.Info().PageSize,
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		ops:      make(chan *op, 4096),
		changed:  make(chan struct{}, 1),
		commits:  make(chan CommitInfo, 64),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if opts.ReadOnly {
		if err := s.checkSchema(); err != nil {
			db.Close()
			return nil, err
		}
		close(s.done)
		return s, nil
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.disk = newDiskGuard(path, opts, s.now, s.logLowDisk, s.logFileGone)
	s.disk.spareIn = s.spareInFile
	if max := opts.maxDataLimit(); max > 0 {
		s.disk.maxData, s.disk.size = max, s.LiveSize
	}
	// The first look at the disk, before any request: until a look has
	// finished, a request that found another one looking would have no
	// figure at all and be refused as if the disk were full.
	s.disk.refresh()
	go s.loop()
	return s, nil
}

// openCurrent opens the file at path with bbolt and makes sure it is still
// the file at path once bbolt has its lock. bbolt opens the file, then
// waits for the lock: a `webhookd compact` that was finishing meanwhile
// renamed its copy over path and let go of the old file, whose lock bbolt
// then got. A daemon would run on a file with no name, and lose every
// event it took at its next start. The file at path did not change if it
// is the same before the open and after the lock.
func openCurrent(path string, bo *bolt.Options) (*bolt.DB, error) {
	for range 3 {
		before, statErr := os.Stat(path)
		db, err := openBolt(path, bo)
		if err != nil {
			return nil, err
		}
		if statErr != nil {
			return db, nil // created: nothing could replace it meanwhile
		}
		if after, err := os.Stat(path); err == nil && os.SameFile(before, after) {
			return db, nil
		}
		db.Close()
	}
	return nil, errors.New("the file was replaced while it was being opened, three times: is a compaction running?")
}

// openBolt is bolt.Open for a file that may be cut short (restored from an
// interrupted copy, written out on a full disk): bbolt reads the pages its
// meta page names through its mmap, and past the file's end that is a
// fault, or one of its assertions, not an error. Either is an error here,
// and so is a file shorter than the data its meta page says it holds,
// before anything reads that data.
func openBolt(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("the file is damaged (%v): restore it from a backup (README, Backups)", r)
		}
	}()
	// bbolt takes the file's size as an int: on a 32-bit platform one past
	// 2 GiB wrapped ("file size too small -1610612736", or 4.5 GiB read
	// as 512 MiB). It could not map one that large there anyway.
	if fi, err := os.Stat(path); err == nil && fi.Size() > math.MaxInt {
		return nil, fmt.Errorf("the file is %d bytes; on this 32-bit platform the database can be at most %d (2 GiB): bbolt maps all of it into memory. Compact it on a 64-bit machine (webhookd compact), which keeps only the live data, or run a 64-bit OS", fi.Size(), math.MaxInt)
	}
	db, err = bolt.Open(path, 0o600, bo)
	if err != nil {
		return nil, err
	}
	var size int64
	_ = db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	if fi, err := os.Stat(path); err == nil && fi.Size() < size {
		db.Close()
		return nil, fmt.Errorf("the file is %d bytes and its data reaches %d: it was cut short; restore it from a backup (README, Backups)", fi.Size(), size)
	}
	return db, nil
}

func (s *Store) checkSchema() error {
	return s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m == nil {
			return nil // empty file: nothing to read
		}
		if v := m.Get(metaVersion); v != nil && !readable(string(v)) {
			return schemaError(string(v))
		}
		return nil
	})
}

// init creates buckets, checks the schema, seeds the id generator and
// returns interrupted jobs to their queues.
func (s *Store) init() error {
	// What the transaction did is logged once it is committed: a commit
	// that fails leaves the file as it was, and the log must not claim an
	// upgrade, or jobs back in their queues, that did not happen.
	var (
		upgrading string // the schema an upgrade started from
		upgraded  bool   // its migrations ran
		notes     []upgradeNote
		start     time.Time
		cut       []*Job
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		upgrading, upgraded = "", false
		// A file with buckets and no schema version is no webhookd's (a
		// new file gets both in this one transaction): not written into.
		if m := tx.Bucket(bMeta); m == nil || m.Get(metaVersion) == nil {
			var names []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
			if len(names) > 0 {
				return fmt.Errorf("not a webhookd database (it holds the buckets %s): check store.path", strings.Join(names, ", "))
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		m := tx.Bucket(bMeta)
		switch v := m.Get(metaVersion); {
		case v == nil:
			if err := m.Put(metaVersion, []byte(schemaVersion)); err != nil {
				return err
			}
		case string(v) != schemaVersion:
			from := string(v)
			if migrations[from] != nil {
				upgrading = from
			}
			start = time.Now()
			var err error
			if notes, err = migrate(tx, from); err != nil {
				return err
			}
			upgraded = true
		}
		// A random name of this database, made once: ids are unique
		// within it only, and what leaves it (a signed relay's
		// webhook-id) must be unique beside other webhookds' too.
		inst := m.Get(metaInstance)
		if inst == nil {
			b := make([]byte, 16)
			rand.Read(b)
			inst = []byte(hex.EncodeToString(b))
			if err := m.Put(metaInstance, inst); err != nil {
				return err
			}
		}
		s.instance = string(inst)
		for _, b := range [][]byte{bEvents, bJobs} {
			if k, _ := tx.Bucket(b).Cursor().Last(); k != nil {
				s.ids.observe(string(k))
			}
		}
		// And past the dedup mark, whose event may be pruned: an event id
		// below it would not be read back after a crash (loadDedup),
		// if the clock is behind the mark at this start.
		if upto := m.Get(metaDedupUpto); len(upto) > 0 {
			s.ids.observe(string(upto))
		}
		s.dd = newDedupCache(s.opts.dedupMergeAt, s.opts.dedupMergeMin)
		if err := loadDedup(tx, s.dd); err != nil {
			return err
		}
		var err error
		if cut, err = s.recover(tx); err != nil {
			return err
		}
		// No job runs now: a count of a queue's running jobs left is
		// one a build that does not keep them let go stale.
		if err := resetQueueRuns(tx); err != nil {
			return err
		}
		// The commit fails here, rolled back, as a disk would fail it.
		return s.injectedFailure()
	})
	s.damagedStaged(err == nil) // the jobs recover set aside
	if err != nil {
		if upgrading == "" {
			return err
		}
		if upgraded {
			err = fmt.Errorf("upgrade the database from schema %s: %w", upgrading, err)
		}
		return fmt.Errorf("%w (the file is left as it was, of schema %s, which the webhookd run before this one reads; README, Upgrades)", err, upgrading)
	}
	if upgraded {
		s.log.Info("upgraded the database's schema; a webhookd older than this one refuses the file now (README, Upgrades)",
			"from", upgrading, "to", schemaVersion, "took", time.Since(start).Round(time.Millisecond))
	}
	for _, n := range notes {
		s.log.Warn(n.msg, append(n.args, "path", s.db.Path())...)
	}
	for _, j := range cut {
		s.cut = append(s.cut, CutRun{Job: j.ID, Hook: j.Hook, Action: j.Action})
		if j.State == Dead {
			s.log.Warn("job interrupted by a stop is dead: "+CutOffReason, "job", j.ID, "event_id", j.EventID, "hook", j.Hook, "action", j.Action)
			continue
		}
		s.log.Info("job interrupted by a stop goes back to its queue", "job", j.ID, "event_id", j.EventID, "hook", j.Hook, "action", j.Action)
	}
	return nil
}

// recover returns jobs left running by a stopped process to their queues,
// and returns those jobs.
func (s *Store) recover(tx *bolt.Tx) ([]*Job, error) {
	var cut []*Job
	now := s.now()
	prefix := stateKey(Running, "")
	c := tx.Bucket(bState).Cursor()
	var ids []string
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	for _, id := range ids {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrDamaged) {
			// Its queue entry holds a place in the window for good:
			// set aside, the scheduler's start refills the window.
			qk, hook, action, _ := findQueued(tx, id)
			if err := s.setAside(tx, id, qk, hook, action, err); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		dead := cutInARow(tx, j) >= CutOffLimit-1
		run := Run{
			Attempt: j.Attempts, Started: j.Updated, Finished: now, Result: RunInterrupted,
			Error: "interrupted: webhookd stopped while it ran; it runs again",
		}
		if dead {
			run.Error = "interrupted: webhookd stopped while it ran"
		}
		if err := putRun(tx, j.ID, &run); err != nil {
			return nil, err
		}
		cut = append(cut, j)
		if dead {
			// Cut off run after run: a script that kills or restarts
			// webhookd would run again at every start, for good.
			if err := unqueue(tx, j); err != nil {
				return nil, err
			}
			j.NextAt = time.Time{}
			j.Reason = CutOffReason
			if err := setState(tx, j, Dead, now); err != nil {
				return nil, err
			}
			if err := putJob(tx, j); err != nil {
				return nil, err
			}
			continue
		}
		if err := setState(tx, j, Pending, now); err != nil {
			return nil, err
		}
		j.NextAt = now
		j.Reason = ""
		if err := putJob(tx, j); err != nil {
			return nil, err
		}
		// Waiting, in its place: the scheduler's start brings each
		// queue's window to the action's concurrency (Refill), which
		// may have changed since; made due here, a job behind a waiting
		// one (a reload made the window smaller while it ran) would run
		// before it.
		if err := setQueueFlag(tx, j, qWaiting); err != nil {
			return nil, err
		}
	}
	return cut, nil
}

// CutOffLimit is how many runs of a job in a row may be cut off (by a
// stop, a crash or a kill of webhookd) before the job is dead, with
// CutOffReason, rather than queued to run again.
const CutOffLimit = 5

// CutOffReason is the reason of a job dead after CutOffLimit runs in a
// row were cut off.
var CutOffReason = fmt.Sprintf("its last %d runs were each cut off by a stop or a crash of webhookd: does it restart webhookd and wait for that? End it with `systemctl --no-block restart webhookd` (README); `webhookd retry` runs it again", CutOffLimit)

// CutInARow returns how many of j's last runs in a row were cut off
// (RunInterrupted), up to CutOffLimit; not those before a person put it
// back in its queue (j.Requeued: a retry of the dead job starts the count
// again).
func (s *Store) CutInARow(j *Job) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = cutInARow(tx, j)
		return nil
	})
	return n, err
}

func cutInARow(tx *bolt.Tx, j *Job) int {
	c := tx.Bucket(bRuns).Cursor()
	prefix := []byte(j.ID)
	k, v := c.Seek(append([]byte(j.ID), 0xff, 0xff, 0xff, 0xff)) // past its last run's key
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	n := 0
	for ; k != nil && len(k) == len(prefix)+4 && bytes.HasPrefix(k, prefix) && n < CutOffLimit; k, v = c.Prev() {
		var r struct {
			Result  string
			Started time.Time
		}
		if json.Unmarshal(v, &r) != nil || r.Result != RunInterrupted || r.Started.Before(j.Requeued) {
			break
		}
		n++
	}
	return n
}

// Interrupted is how many jobs Open found running, left so by a process
// that stopped before they ended, and returned to their queues. Their
// commands may still run if that process was killed.
func (s *Store) Interrupted() int { return len(s.cut) }

// CutRun is a run that Open found cut off and recorded as interrupted:
// its job was running when the file was last closed.
type CutRun struct {
	Job, Hook, Action string
}

// CutRuns lists the runs Open recorded as interrupted (see Interrupted):
// the process that ran them stopped before it could count them.
func (s *Store) CutRuns() []CutRun { return slices.Clone(s.cut) }

// Close stops the commit loop after the operations already queued and
// closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.done
		if !s.opts.ReadOnly && !s.opts.crashAtClose {
			s.syncFreelist()
		}
		err = s.db.Close()
	})
	return err
}

// syncFreelist writes bbolt's list of free pages once, at a clean close, so
// that the next Open reads it instead of walking every page of the file to
// rebuild it (a second and 25 MB per 2 GB of file). Commits do not write
// it (NoFreelistSync keeps them small), and the first commit after Open
// drops it again, so after a crash the next Open walks the file, as before.
func (s *Store) syncFreelist() {
	s.db.NoFreelistSync = false
	if err := s.db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		s.log.Warn("could not write the free page list at close; the next start rebuilds it", "err", err)
	}
}

// Instance is this database's random name (32 hex digits), made when the
// file was: the same across restarts, backups and compaction, and unlike
// any other webhookd's. Empty for a store opened read-only.
func (s *Store) Instance() string { return s.instance }

// Changed is signalled after a commit that may have made a job due.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Commits delivers a CommitInfo per commit, for metrics. A reader that
// falls behind misses some; the loop never waits for it.
func (s *Store) Commits() <-chan CommitInfo { return s.commits }

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// submit queues o for the commit loop and waits until it is committed.
func (s *Store) submit(ctx context.Context, o *op) error {
	if err := s.handOver(ctx, o); err != nil {
		return err
	}
	// Once queued, the op is committed or failed by the loop; wait for it
	// even if ctx ends, so that a caller never reports failure for a write
	// that then lands.
	return <-o.done
}

// submitEarly queues o and waits until o's fn has run in a transaction that
// is about to commit, not until it is committed: it returns a channel that
// then receives the commit's result. It returns an error (and no channel)
// when o failed before it applied. The caller must treat what fn did as
// undone if the channel receives an error: nothing of that transaction
// landed.
func (s *Store) submitEarly(ctx context.Context, o *op) (<-chan error, error) {
	if s.opts.ReadOnly {
		return nil, errors.New("store opened read-only")
	}
	o.applied = make(chan struct{})
	if err := s.handOver(ctx, o); err != nil {
		return nil, err
	}
	select {
	case <-o.applied:
		return o.done, nil
	case err := <-o.done:
		if err == nil {
			// Applied and already committed: applied was closed too, and
			// select took this case.
			done := make(chan error, 1)
			done <- nil
			return done, nil
		}
		// Failed: before it applied (an op's own error, or the disk before
		// the transaction began), or in the commit after it (then nothing
		// of it landed either).
		return nil, err
	}
}

// handOver hands o to the commit loop, unless the store is closed or ctx
// ends first.
func (s *Store) handOver(ctx context.Context, o *op) error {
	o.done = make(chan error, 1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// update runs fn in the commit loop.
func (s *Store) update(ctx context.Context, wake bool, fn func(tx *bolt.Tx) error) error {
	if s.opts.ReadOnly {
		return errors.New("store opened read-only")
	}
	return s.submit(ctx, &op{fn: fn, wake: wake})
}

// loop is the single writer: it takes the first queued op, yields once so
// that others can queue behind it, drains what is queued and commits it all
// in one transaction.
func (s *Store) loop() {
	defer close(s.done)
	batch := make([]*op, 0, s.opts.MaxBatch)
	idle := s.opts.dedupIdle
	if idle == 0 {
		idle = dedupIdleFlush
	}
	idleTimer := time.NewTimer(idle)
	idleTimer.Stop()
	defer idleTimer.Stop()
	flushed := false // since the last commit of ops
	for {
		var first *op
		var idleC <-chan time.Time
		if idle > 0 && !flushed && s.dd != nil && s.dd.unmerged() {
			idleTimer.Reset(idle)
			idleC = idleTimer.C
		}
		select {
		case first = <-s.ops:
			idleTimer.Stop()
			flushed = false
		case <-idleC:
			// Quiet: the entries still in memory go to their index now,
			// rather than wait for 16,384 more deliveries, so that an
			// idle daemon holds none and a start after a crash reads
			// none back. Once per quiet spell, even if it fails.
			s.flushDedup("while idle")
			flushed = true
			continue
		case <-s.quit:
			// Drain what was queued before Close, and put the dedup
			// entries still in memory where the next Open need not read
			// them back.
			for {
				select {
				case o := <-s.ops:
					s.commit([]*op{o})
				default:
					if !s.opts.crashAtClose {
						s.flushDedup("at close")
					}
					return
				}
			}
		}
		batch = append(batch[:0], first)
		if !s.opts.NoGroupCommit {
			runtime.Gosched()
			bytes := first.bytes
		drain:
			for len(batch) < s.opts.MaxBatch && bytes < s.opts.MaxBatchBytes {
				select {
				case o := <-s.ops:
					batch = append(batch, o)
					bytes += o.bytes
				default:
					break drain
				}
			}
		}
		s.batchMu.Lock()
		s.commit(batch)
		s.batchMu.Unlock()
		// The ops are done: the batch's array must not keep them (and
		// what they write, a body of up to 256 MiB) until the next
		// write comes, which may be hours on.
		clear(batch)
	}
}

// settle returns once the commit loop has committed, or failed to
// commit, the batch it is applying or committing, if any: a read
// transaction begun after it sees what every op that began to apply
// before the call wrote, or nothing of it if its commit failed.
func (s *Store) settle() {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
}

// commit applies ops in one transaction. When the transaction fails because
// of one op, each op is retried alone, so that one bad op fails by itself.
func (s *Store) commit(ops []*op) {
	start := time.Now()
	err := s.apply(ops)
	info := CommitInfo{Ops: len(ops), Duration: time.Since(start), Err: err}
	for _, o := range ops {
		info.Events += o.events
	}
	if err != nil && len(ops) > 1 && !errors.Is(err, errCommit) {
		for _, o := range ops {
			s.commit([]*op{o})
		}
		return
	}
	wake := false
	for _, o := range ops {
		o.done <- err
		wake = wake || o.wake
	}
	if err == nil && wake {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	select {
	case s.commits <- info:
	default:
	}
}

// errCommit marks an error from the commit itself (the disk), which no
// retry of single ops would avoid.
var errCommit = errors.New("commit")

func (s *Store) apply(ops []*op) error {
	s.damagedStaged(false) // a failed transaction's
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("%w: begin: %w", errCommit, err)
	}
	if err := s.dd.begin(tx, false); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	for _, name := range packedBuckets {
		tx.Bucket(name).FillPercent = 1
	}
	events := 0
	for _, o := range ops {
		if err := o.fn(tx); err != nil {
			_ = tx.Rollback()
			s.dd.rolledBack()
			return err
		}
		events += o.events
	}
	if err := s.dd.merge(tx, max(s.dd.mergeMin, 2*events)); err != nil {
		_ = tx.Rollback()
		s.dd.rolledBack()
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	// Every op applied, so none of them runs again (a failure from here on
	// is the commit's, and no op is retried alone after it): those that
	// asked may act on their results while the commit writes them.
	early := false
	for _, o := range ops {
		if o.applied != nil {
			close(o.applied)
			early = true
		}
	}
	if early {
		// The goroutines just woken wait in this P's run queue; without a
		// yield they would wait for the commit's syscalls to hand the P
		// over (about 100 µs per job, measured at parallelism 1).
		runtime.Gosched()
	}
	if err := s.injectedFailure(); err != nil {
		_ = tx.Rollback()
		s.dd.rolledBack()
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	if err := tx.Commit(); err != nil {
		s.dd.rolledBack()
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	s.dd.committed()
	s.damagedStaged(true)
	return nil
}

// flushDedup writes every dedup entry still in memory into the bucket, at
// Close or when the loop has been idle for a while (when says which, for
// the log). If that fails, the next Open reads them back from the events.
func (s *Store) flushDedup(when string) {
	for i := 0; i < 3 && s.dd.unmerged(); i++ {
		tx, err := s.db.Begin(true)
		if err == nil {
			err = s.dd.begin(tx, true)
			if err == nil {
				err = s.dd.merge(tx, -1)
			}
			if err == nil {
				err = s.injectedFailure()
			}
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
		}
		if err != nil {
			s.dd.rolledBack()
			s.log.Warn("could not write the dedup entries "+when+"; a start after a crash reads them back", "err", err)
			return
		}
		s.dd.committed()
	}
}

// injectedFailure is the error Options.FailWrites makes a commit fail
// with, if it is set and says so.
func (s *Store) injectedFailure() error {
	if s.opts.FailWrites == nil {
		return nil
	}
	return s.opts.FailWrites()
}

// IsWriteError reports whether err is a failure to write to the disk
// (rather than a problem with the request).
func IsWriteError(err error) bool { return errors.Is(err, errCommit) }
