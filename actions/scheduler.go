package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Options configure a Scheduler.
type Options struct {
	// Store holds the jobs. Required.
	Store *store.Store
	// Logger receives a line per run; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxRuns caps the runs in progress at once, over all actions
	// (default 32).
	MaxRuns int
	// KillGrace is how long a command has between SIGTERM and SIGKILL
	// (default 10s).
	KillGrace time.Duration
	// TempDir holds the payload files of running commands. By default,
	// those of bodies up to 1 MiB go on a memory file system when there is
	// one (see memoryDir), and the others in the system's temp directory.
	TempDir string
	// OnRun, if set, is called after each run.
	OnRun func(RunInfo)
	// Rand seeds the backoff jitter; nil seeds it randomly.
	Rand *rand.Rand
}

// RunInfo describes one finished run, for metrics.
type RunInfo struct {
	Hook, Action string
	Result       string // succeeded, failed or interrupted
	Duration     time.Duration
	// Cut is set for a run that a process which died cut off (recorded
	// as interrupted by the next start): its duration is not known.
	Cut bool
}

// Scheduler starts due jobs and records how they end.
type Scheduler struct {
	opts   Options
	st     *store.Store
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	cfg    atomic.Pointer[Config]
	kick   chan struct{}

	mu       sync.Mutex
	rnd      *rand.Rand
	paused   map[string]bool // "hook/action"
	running  map[string]*running
	perQueue map[string]int
	// waiting holds the actions ("hook/action") of which the last dispatch
	// pass started no job for want of free runs (MaxRuns), or did not look
	// at: the next pass takes them first, and while one waits, a run that
	// ends leaves its place to that pass, not to its own queue's next job
	// (nextSlots).
	waiting  map[string]bool
	draining bool
	// unlanded is set once a run whose start never reached the disk kept
	// its payload file: the run directories then outlive this scheduler,
	// for the next start to record that run (lostStarts).
	unlanded bool
	// dispatchMu is held by a dispatch pass, so that Shutdown can wait for
	// one in progress (which may launch runs) before it waits for the runs.
	dispatchMu sync.Mutex
	offset     int        // where the next dispatch pass starts, for fairness
	refillMu   sync.Mutex // held while an action's queues are resized (resize)
	// The wall clock and the monotonic one at the last dispatch pass
	// (under dispatchMu), to see the wall clock stepped back (clock.go).
	lastWall, lastMono time.Time

	runCtx    context.Context
	stopRuns  context.CancelCauseFunc
	loopDone  chan struct{}
	runDir    string    // payload files, under TempDir; made by Start
	memDir    string    // small payload files, on a memory file system; "" if none
	runDirs   []*runDir // the directories of the two above, locked while the scheduler runs
	loopStop  context.CancelFunc
	wg        sync.WaitGroup // runs and background work
	closeOnce sync.Once
}

type running struct {
	job    *store.Job
	queue  string
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the run is off the books (release)
	// ended is set (under Scheduler.mu) once the run is over and only its
	// finish is being written: Running no longer lists it.
	ended bool
}

// New makes a Scheduler; Start starts it.
func New(opts Options, cfg *Config) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = 32
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	autoDir := opts.TempDir == ""
	if autoDir {
		opts.TempDir = os.TempDir()
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg == nil {
		cfg = NewConfig(nil)
	}
	s := &Scheduler{
		opts:     opts,
		st:       opts.Store,
		log:      opts.Logger,
		now:      opts.Now,
		client:   newHTTPClient(),
		kick:     make(chan struct{}, 1),
		rnd:      rnd,
		paused:   map[string]bool{},
		running:  map[string]*running{},
		perQueue: map[string]int{},
		waiting:  map[string]bool{},
		loopDone: make(chan struct{}),
	}
	s.runCtx, s.stopRuns = context.WithCancelCause(context.Background())
	s.cfg.Store(cfg)
	if autoDir {
		s.memDir = memoryDir()
	}
	return s
}

// Start loads the paused actions and starts the dispatch loop.
func (s *Scheduler) Start() error {
	paused, err := s.st.Paused()
	if err != nil {
		return fmt.Errorf("load paused actions: %w", err)
	}
	s.mu.Lock()
	for _, p := range paused {
		s.paused[p] = true
	}
	s.mu.Unlock()
	// The store sizes the windows by the config as each commit is
	// written, not as the jobs were planned: a request planned before a
	// reload may be stored after it.
	s.st.SetWindowSize(s.windowSize)
	// Payload files go in a directory of the scheduler's own: a file
	// created and removed per run costs less there than in a shared /tmp
	// with thousands of entries and other processes' churn.
	parents := []string{s.opts.TempDir, s.memDir}
	d, err := makeRunDir(s.opts.TempDir)
	if err != nil {
		return fmt.Errorf("directory for payload files: %w", err)
	}
	s.runDirs = append(s.runDirs, d)
	s.runDir = d.path
	if s.memDir != "" {
		if d, err := makeRunDir(s.memDir); err == nil {
			s.runDirs = append(s.runDirs, d)
			s.memDir = d.path
		} else {
			s.log.Debug("payload files go to the temp directory", "dir", s.opts.TempDir, "err", err)
			s.memDir = ""
		}
	}
	// The runs the last process cut off, which Open recorded: it could
	// not report them.
	for _, c := range s.st.CutRuns() {
		s.reportCut(c)
	}
	ctx, stop := context.WithCancel(context.Background())
	s.loopStop = stop
	go func() {
		// A daemon that was killed left its directories, and the runs it
		// had started may still run: those are stopped before the first
		// dispatch (so that a job run again does not overlap its last
		// run), which can take the kill grace; the listener does not wait
		// for it. This scheduler's own directories are locked already, so
		// the clean-up cannot take them for a dead one's.
		s.cleanUpAfterADeadDaemon(parents)
		// The queues as the config wants them: its concurrency may have
		// changed while no daemon ran, and the runs the last one had
		// under way are back in their places, waiting (store.Open).
		for _, a := range s.cfg.Load().Actions {
			s.resize(a.Hook, a.Name)
		}
		// Jobs queued while the clock ran ahead of where it is now.
		s.clockBack(0, "at start, the clock is behind where it was")
		s.loop(ctx)
	}()
	return nil
}

// cleanUpAfterADeadDaemon stops the runs a killed daemon left running and
// removes its run directories (rundir.go, orphans_linux.go).
func (s *Scheduler) cleanUpAfterADeadDaemon(parents []string) {
	var dead []*runDir
	look := func() {
		for _, parent := range parents {
			if parent == "" {
				continue
			}
			ds, err := deadRunDirs(parent)
			if err != nil {
				s.log.Warn("look for payload directories left by a webhookd that did not stop", "dir", parent, "err", err)
			}
			dead = append(dead, ds...)
		}
	}
	look()
	// When the store had jobs running, the process that ran them died
	// without ending them, and its directories are to be found: a killed
	// process's locks can outlive it by some milliseconds
	// (docs/reliability.md), so look again for a while before deciding
	// there are none.
	for deadline := time.Now().Add(time.Second); len(dead) == 0 && s.st.Interrupted() > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		look()
	}
	if len(dead) == 0 {
		return
	}
	paths := make([]string, len(dead))
	for i, d := range dead {
		paths[i] = d.path
	}
	if groups := orphanRuns(paths); len(groups) > 0 {
		s.log.Warn("stopping the runs a webhookd that did not stop left running; their jobs run again", "pids", groups)
		stopGroups(groups, s.opts.KillGrace)
	}
	// A job started while the finish before it was being written (an
	// early start) ran, but its start may not be on disk: its run is
	// recorded now, so that it runs again as the next attempt.
	if ids := lostStarts(dead); len(ids) > 0 {
		if cut, err := s.st.RecordLostStarts(context.Background(), ids); err != nil {
			s.log.Error("record the runs a webhookd that did not stop cut off", "err", err)
		} else if len(cut) > 0 {
			s.log.Warn("runs cut off before their start was written are recorded; their jobs run again", "jobs", len(cut))
			for _, c := range cut {
				s.reportCut(c)
			}
		}
	}
	for _, d := range dead {
		if err := d.remove(); err != nil {
			s.log.Warn("remove a payload directory left by a webhookd that did not stop", "dir", d.path, "err", err)
		}
	}
	s.log.Info("removed payload directories left by a webhookd that did not stop", "count", len(dead))
}

// reportCut reports a run that a process which died cut off, and a start
// recorded as interrupted.
func (s *Scheduler) reportCut(c store.CutRun) {
	if s.opts.OnRun != nil {
		s.opts.OnRun(RunInfo{Hook: c.Hook, Action: c.Action, Result: store.RunInterrupted, Cut: true})
	}
}

// SetConfig swaps in a new snapshot of actions. Jobs already running go on
// with the definition they started with (what follows their run — retry,
// the queue's next — goes by the new one); queued jobs will start with the
// new one. Where an action's concurrency changed, or it came back, its
// queues' windows are brought to the new size in the background.
func (s *Scheduler) SetConfig(cfg *Config) {
	old := s.cfg.Swap(cfg)
	for _, a := range cfg.Actions {
		prev := old.Action(a.Hook, a.Name)
		if prev == nil || a.Concurrency != prev.Concurrency {
			s.resizeInBackground(a.Hook, a.Name)
		}
	}
	s.wake()
}

// resizeInBackground resizes an action's queues (resize) in a goroutine
// of its own, and wakes the dispatch loop after.
func (s *Scheduler) resizeInBackground(hook, action string) {
	// Counted in s.wg under s.mu, and not at all once Shutdown has set
	// draining and may be in wg.Wait: an Add from zero during a Wait is
	// a misuse of the WaitGroup.
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.resize(hook, action)
		s.wake()
	}()
}

// resize brings the windows of an action's queues to its concurrency, one
// action at a time, each to the size the config has as each commit is
// written (two quick reloads, 1, 3, 1, end at 1).
func (s *Scheduler) resize(hook, action string) {
	s.refillMu.Lock()
	defer s.refillMu.Unlock()
	// A disk that fails is tried again until it takes the write: windows
	// of the wrong size would run too many jobs at once, or too few.
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		err := s.st.Refill(s.runCtx, hook, action, s.windowOf(hook, action))
		if err == nil || errors.Is(err, store.ErrClosed) || s.runCtx.Err() != nil {
			return
		}
		s.log.Error("resize the action's queues to its concurrency; will retry", "hook", hook, "action", action, "err", err, "retry_in", wait.String())
		select {
		case <-time.After(wait):
		case <-s.runCtx.Done():
			return
		}
	}
}

// windowOf returns what tells the store an action's queue window as a
// commit is written: its concurrency in the config current then (0 once
// the action is gone), so that a finish and a reload's refill, however
// they interleave, size the window alike.
func (s *Scheduler) windowOf(hook, action string) func() int {
	return func() int { return s.windowSize(hook, action) }
}

// windowSize is an action's queue window in the current config: its
// concurrency, 0 once the action is gone. The store asks it as each
// commit is written (Store.SetWindowSize).
func (s *Scheduler) windowSize(hook, action string) int {
	if a := s.cfg.Load().Action(hook, action); a != nil {
		return max(a.Concurrency, 1)
	}
	return 0
}

// Config returns the current snapshot.
func (s *Scheduler) Config() *Config { return s.cfg.Load() }

func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// loop dispatches due jobs whenever something may have changed: a commit,
// a finished run, a reload, or the next due time.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		next := s.dispatch()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.st.Changed():
		case <-s.kick:
		case <-timer.C:
		}
	}
}

// dispatch starts what is due and returns when to look again (zero: only
// when something changes).
func (s *Scheduler) dispatch() time.Time {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	cfg := s.cfg.Load()
	now := s.now()
	s.watchClock(now)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return time.Time{}
	}
	free := s.opts.MaxRuns - len(s.running)
	// In turn from the offset, those the last pass left waiting for a
	// free run first.
	actions := make([]*Action, 0, len(cfg.Actions))
	n := len(cfg.Actions)
	for _, first := range []bool{true, false} {
		for i := 0; i < n; i++ {
			a := cfg.Actions[(i+s.offset)%n]
			name := a.Hook + "/" + a.Name
			if !s.paused[name] && s.waiting[name] == first {
				actions = append(actions, a)
			}
		}
	}
	if n > 0 {
		s.offset = (s.offset + 1) % n
	}
	s.mu.Unlock()

	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	type pick struct {
		action *Action
		queue  string
	}
	picks := map[string]pick{}
	var ids []string
	taken := map[string]int{}
	waiting := map[string]bool{}
	for i, a := range actions {
		if free <= 0 {
			// Busy: look again when a run finishes. Those of the
			// actions not looked at that have a due job wait for a
			// free run.
			for _, b := range actions[i:] {
				if due, _, err := s.st.Due(b.Hook, b.Name, now, 1); err == nil && len(due) > 0 {
					waiting[b.Hook+"/"+b.Name] = true
				}
			}
			break
		}
		started := len(ids)
		due, later, err := s.st.Due(a.Hook, a.Name, now, min(free+16, 256))
		if err != nil {
			s.log.Error("read due jobs", "hook", a.Hook, "action", a.Name, "err", err)
			soonest(now.Add(time.Second))
			continue
		}
		soonest(later)
		for _, d := range due {
			if free <= 0 {
				soonest(now)
				if len(ids) == started {
					// None of its jobs started in this pass.
					waiting[a.Hook+"/"+a.Name] = true
				}
				break
			}
			q := a.Hook + "\x00" + a.Name + "\x00" + d.Key
			s.mu.Lock()
			busy := s.perQueue[q] + taken[q]
			_, already := s.running[d.JobID]
			s.mu.Unlock()
			if already || busy >= max(a.Concurrency, 1) {
				continue
			}
			taken[q]++
			picks[d.JobID] = pick{action: a, queue: q}
			ids = append(ids, d.JobID)
			free--
		}
	}
	s.mu.Lock()
	s.waiting = waiting
	s.mu.Unlock()
	if len(ids) == 0 {
		return next
	}
	started, aside, err := s.st.StartJobs(s.runCtx, ids)
	if err != nil {
		if !errors.Is(err, store.ErrClosed) {
			s.log.Error("start jobs", "err", err)
		}
		return now.Add(time.Second)
	}
	// Jobs whose records are damaged left their queues (the store logs
	// each): their windows take the jobs behind them.
	resized := map[string]bool{}
	for _, a := range aside {
		if name := a.Hook + "/" + a.Action; !resized[name] {
			resized[name] = true
			s.resizeInBackground(a.Hook, a.Action)
		}
	}
	for _, j := range started {
		p := picks[j.ID]
		s.launch(p.action, j, p.queue, nil)
	}
	return next
}

// landing tells the runs that a finish started early (see finish) whether
// their start is on disk: done is closed once that is known, and ok says
// it is.
type landing struct {
	done chan struct{}
	ok   bool
}

// launch runs a started job in its own goroutine. land, when set, is the
// landing of the commit that started it: the run may begin before that
// commit is on disk, but it is recorded only once it is.
func (s *Scheduler) launch(a *Action, j *store.Job, queue string, land *landing) {
	ctx, cancel := context.WithCancelCause(s.runCtx)
	s.mu.Lock()
	if r, ok := s.running[j.ID]; ok {
		if r.ended && j.Attempts > r.job.Attempts && !s.draining {
			// Its last run is over and its finish still being
			// recorded, and another finish of its queue started it
			// again (its retry was due by then): this start, a later
			// attempt, runs once that record is done.
			s.wg.Add(1)
			s.mu.Unlock()
			cancel(nil)
			go func() {
				defer s.wg.Done()
				<-r.done
				s.launch(a, j, queue, land)
			}()
			return
		}
		// The same attempt: a finish started it early and that commit
		// failed, so it was still queued on disk when a dispatch pass
		// started it again. The run under way (or just ended) counts
		// as this start.
		s.mu.Unlock()
		cancel(nil)
		return
	}
	s.running[j.ID] = &running{job: j, queue: queue, cancel: cancel, done: make(chan struct{})}
	s.perQueue[queue]++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel(nil)
		res := s.attempt(ctx, a, j, land)
		s.mu.Lock()
		if r := s.running[j.ID]; r != nil {
			r.ended = true
		}
		s.mu.Unlock()
		if land != nil {
			<-land.done
			if !land.ok {
				// Its start never reached the disk, where it is still
				// queued: it runs again after a restart, like a run cut
				// off by a crash, and its payload file stays for that
				// start to count this run.
				if res.payload != "" {
					s.mu.Lock()
					s.unlanded = true
					s.mu.Unlock()
				}
				s.log.Warn("run not recorded: its start was not written; it runs again after a restart", "job", j.ID, "event_id", j.EventID)
				s.release(j, queue)
				return
			}
			if res.payload != "" {
				removePayload(res.payload) // its start is on disk: not needed
			}
		}
		out := s.outcome(a, j, res)
		next, nextAction, durable := s.finish(j, out, queue)
		// The jobs the finish started (the queue's next) run before this
		// one leaves the books, so the queue never looks free meanwhile.
		// They start while the finish is being committed, and are recorded
		// only once it is on disk.
		var nextLand *landing
		if len(next) > 0 {
			nextLand = &landing{done: make(chan struct{})}
		}
		for _, n := range next {
			s.launch(nextAction, n, queue, nextLand)
		}
		if durable != nil {
			err := <-durable
			if err != nil {
				// Nothing of that commit landed: j is still running on
				// disk, and the jobs it started still queued. Record it
				// again, with those jobs running.
				s.log.Error("record run; will retry", "job", j.ID, "event_id", j.EventID, "err", err)
				err = s.refinish(j, out, next)
			}
			if nextLand != nil {
				nextLand.ok = err == nil
				close(nextLand.done)
			}
		}
		s.release(j, queue)
	}()
}

// release takes a run that ended off the books and looks for what may
// start now.
func (s *Scheduler) release(j *store.Job, queue string) {
	s.mu.Lock()
	if r := s.running[j.ID]; r != nil {
		close(r.done)
	}
	delete(s.running, j.ID)
	if s.perQueue[queue]--; s.perQueue[queue] <= 0 {
		delete(s.perQueue, queue)
	}
	s.mu.Unlock()
	s.wake()
}

// nextSlots is how many jobs of j's queue may start when j ends, and the
// action they run as (the current config's): none while stopping, or when
// the action is paused or no longer in the config.
func (s *Scheduler) nextSlots(j *store.Job, queue string) (int, *Action) {
	a := s.cfg.Load().Action(j.Hook, j.Action)
	if a == nil {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.paused[j.Hook+"/"+j.Action] {
		return 0, nil
	}
	// j's own slot is free once it ends.
	free := s.opts.MaxRuns - len(s.running) + 1
	inQueue := max(a.Concurrency, 1) - (s.perQueue[queue] - 1)
	n := max(0, min(free, inQueue))
	for w := range s.waiting {
		if w != j.Hook+"/"+j.Action {
			// Another action waits for a free run: j's goes to the
			// next dispatch pass, which takes the actions in turn, so
			// that one action's backlog does not hold every run.
			n = min(n, free-1)
			break
		}
	}
	return n, a
}

// attempt runs one attempt of j; land is the landing of the commit that
// started it, if that commit may not be written yet.
func (s *Scheduler) attempt(ctx context.Context, a *Action, j *store.Job, land *landing) result {
	ev, err := s.st.GetEvent(j.EventID, true)
	if errors.Is(err, store.ErrNotFound) && land != nil {
		// The event came in the same commit that started its job, and
		// that commit is still being written: read it once it is.
		<-land.done
		ev, err = s.st.GetEvent(j.EventID, true)
	}
	if err != nil {
		now := s.now()
		run := store.Run{Started: now, Finished: now, Result: store.RunFailed, Error: "load event: " + err.Error()}
		if a.URL == nil {
			run.ExitCode = noExit() // the command never started
		}
		// A damaged event will not be readable on a retry either.
		return result{run: run, permanent: errors.Is(err, store.ErrDamaged)}
	}
	in := &runInput{action: a, job: j, event: ev, data: EventData(ev), keepPayload: land != nil}
	if a.URL != nil {
		return s.runHTTP(ctx, in)
	}
	return s.runExec(ctx, in)
}

// EventData is what templates see of a stored event.
func EventData(ev *store.Event) *tmpl.Data {
	d := &tmpl.Data{
		ID:          ev.ID,
		Hook:        ev.Hook,
		Event:       ev.Type,
		Delivery:    ev.Delivery,
		Received:    ev.Received,
		ContentType: ev.ContentType,
		Body:        ev.Body,
		Headers:     tmpl.HeaderMap(ev.Header),
		Query:       map[string]string{},
	}
	if q, err := parseQuery(ev.Query); err == nil {
		d.Query = q
	}
	return d
}

// cutOffInARow returns how many of j's last runs in a row were cut off,
// up to store.CutOffLimit. It reads them, so it is asked only when a stop
// cut a run off, not at the end of every run.
func (s *Scheduler) cutOffInARow(j *store.Job) int {
	n, err := s.st.CutInARow(j)
	if err != nil {
		s.log.Warn("read a cut-off job's runs", "job", j.ID, "err", err)
	}
	return n
}

// outcome decides what follows a run, logs the run and reports it.
func (s *Scheduler) outcome(a *Action, j *store.Job, res result) store.Outcome {
	if cur := s.cfg.Load().Action(j.Hook, j.Action); cur != nil {
		// A reload while it ran: retries, backoff and the queue's window
		// go by the action as it is now.
		a = cur
	}
	out := store.Outcome{Run: res.run, Concurrency: a.Concurrency}
	switch {
	case res.ok:
		out.State = store.Succeeded
	case res.cancelled:
		out.State = store.Cancelled
		out.Reason = "cancelled by a person while it ran"
	case res.interrupted && s.cutOffInARow(j) >= store.CutOffLimit-1:
		// Stops cut off its every run: a script that restarts
		// webhookd and waits for that would be cut off and run again
		// at every start, for good. (A start does the same for runs
		// that crashes cut off.)
		out.State = store.Dead
		out.Reason = store.CutOffReason
	case res.interrupted:
		out.State = store.Pending
	case res.permanent:
		out.State = store.Dead
		out.Reason = res.run.Error
	case j.Failures+1 > a.Retries:
		out.State = store.Dead
		out.Reason = fmt.Sprintf("%s; no retries left (retries = %d)", res.run.Error, a.Retries)
	default:
		s.mu.Lock()
		delay := backoff(a.Backoff, j.Failures+1, s.rnd)
		s.mu.Unlock()
		delay = max(delay, res.retryAfter)
		out.State = store.Failed
		out.NextAt = s.now().Add(delay)
		out.Reason = store.RetryReason(res.run.Error, j.Failures+1, a.Retries, out.NextAt)
	}
	attrs := []any{"event_id", j.EventID, "job", j.ID, "hook", j.Hook, "action", j.Action, "attempt", j.Attempts,
		"result", res.run.Result, "next", out.State, "duration", res.run.Duration().Round(time.Millisecond)}
	if res.run.ExitCode != nil {
		attrs = append(attrs, "exit_code", *res.run.ExitCode)
	}
	if res.run.Status != 0 {
		attrs = append(attrs, "status", res.run.Status)
	}
	if res.run.Error != "" {
		attrs = append(attrs, "error", res.run.Error)
	}
	if res.ok {
		s.log.Info("run", attrs...)
	} else {
		s.log.Warn("run", attrs...)
	}
	if s.opts.OnRun != nil {
		s.opts.OnRun(RunInfo{Hook: j.Hook, Action: j.Action, Result: res.run.Result, Duration: res.run.Duration()})
	}
	return out
}

// finish records j's run, retrying the write until it applies or the
// scheduler is closed. The same transaction starts the next due jobs of
// j's queue that may run now, and finish returns them with the action to
// run them as (a queue's next run needs no commit of its own), and a
// channel that receives the commit's result: finish returns once the
// transaction applied, so that the next jobs run while it is written.
func (s *Scheduler) finish(j *store.Job, out store.Outcome, queue string) ([]*store.Job, *Action, <-chan error) {
	var next []*store.Job
	var nextAction *Action
	var durable <-chan error
	s.record(j, func() error {
		slots, a := s.nextSlots(j, queue)
		_, started, d, err := s.st.FinishAndStartEarly(context.Background(), j.ID, out, slots)
		if err == nil {
			next, nextAction, durable = started, a, d
		}
		return err
	})
	return next, nextAction, durable
}

// refinish records j's run again after the commit of its finish failed,
// with the jobs that finish started (running already) marked running. It
// returns nil once that is on disk.
func (s *Scheduler) refinish(j *store.Job, out store.Outcome, started []*store.Job) error {
	ids := make([]string, len(started))
	for i, n := range started {
		ids[i] = n.ID
	}
	return s.record(j, func() error {
		_, _, err := s.st.FinishAndStartIDs(context.Background(), j.ID, out, ids)
		return err
	})
}

// record runs write until it succeeds, retrying (100 ms, doubling, up to
// 30 s) while the disk fails. It gives up, returning the error, when the
// job is no longer running in the store or the scheduler stops: the job
// then stays running on disk, and the next start runs it again.
func (s *Scheduler) record(j *store.Job, write func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := write()
		if err == nil {
			return nil
		}
		if errors.Is(err, store.ErrState) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDamaged) {
			s.log.Warn("run not recorded: the job is no longer running in the store", "job", j.ID, "event_id", j.EventID, "err", err)
			return err
		}
		if errors.Is(err, store.ErrClosed) {
			return err
		}
		s.log.Error("record run; will retry", "job", j.ID, "event_id", j.EventID, "err", err)
		select {
		case <-time.After(wait):
		case <-s.runCtx.Done():
			return context.Cause(s.runCtx)
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// Drain stops the scheduler starting runs: from now on it only lets the
// runs under way end (Shutdown waits for them). Jobs stay queued for the
// next start. A stop calls it first, so that nothing starts while the
// listener finishes the requests it has.
func (s *Scheduler) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Shutdown stops starting jobs and waits for the running ones to end until
// ctx is done; then it interrupts them (they go back to their queues) and
// waits for that. It returns how many runs it interrupted.
func (s *Scheduler) Shutdown(ctx context.Context) (int, error) {
	s.Drain()
	// A dispatch pass under way may still launch runs: let it end, so that
	// every run is counted in s.wg before it is waited for.
	s.dispatchMu.Lock()
	s.dispatchMu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.stopRuns(errStopping)
		s.stopLoop()
		return 0, nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.running)
	s.mu.Unlock()
	s.stopRuns(errStopping)
	<-done
	s.stopLoop()
	return n, nil
}

func (s *Scheduler) stopLoop() {
	if s.loopStop != nil {
		s.loopStop()
		<-s.loopDone
		s.mu.Lock()
		keep := s.unlanded
		s.mu.Unlock()
		for _, d := range s.runDirs {
			if keep {
				// Left as a crash leaves it: the next start records the
				// runs in it whose start was not written, then removes it.
				s.log.Warn("payload directory kept for the next start: it holds runs whose start was not written", "dir", d.path)
				d.lock.Close()
				continue
			}
			if err := d.remove(); err != nil {
				s.log.Warn("remove payload directory", "dir", d.path, "err", err)
			}
		}
		s.runDirs = nil
	}
}

// Close stops at once: running jobs are interrupted and go back to their
// queues. It is safe to call more than once.
func (s *Scheduler) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Shutdown(ctx)
	})
	return nil
}

// Running returns the jobs running now, oldest first: not those whose run
// is over and whose finish is being written.
func (s *Scheduler) Running() []*store.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store.Job, 0, len(s.running))
	for _, r := range s.running {
		if !r.ended {
			out = append(out, r.job)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// HeldPaused is what Held says of a paused action.
const HeldPaused = "held: action paused; runs when resumed"

// Held says why hook's action does not start jobs now ("" if it does).
func (s *Scheduler) Held(hook, action string) string {
	cfg := s.cfg.Load()
	if cfg.Action(hook, action) == nil {
		if len(cfg.byHook[hook]) == 0 {
			return "held: hook " + hook + " has no actions in the config; runs when it returns"
		}
		return "held: action " + action + " is not in the config; runs when it returns"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused[hook+"/"+action] {
		return HeldPaused
	}
	return ""
}

// Paused lists the paused actions as hook/action.
func (s *Scheduler) Paused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.paused))
	for p := range s.paused {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// awaitLaunch returns job jobID's run once it is launched: its start is
// committed and the run on its way (a dispatch pass launches what it
// started once that commit returns). Nil if that takes more than a
// couple of seconds, or ctx ends.
func (s *Scheduler) awaitLaunch(ctx context.Context, jobID string) *running {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		r := s.running[jobID]
		s.mu.Unlock()
		if r != nil {
			return r
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// SetPaused pauses or resumes hook's action: its jobs stay queued while it
// is paused. The pause is kept in the store, so it survives restarts.
func (s *Scheduler) SetPaused(ctx context.Context, hook, action string, paused bool) error {
	if err := s.st.SetPaused(ctx, hook, action, paused); err != nil {
		return err
	}
	s.mu.Lock()
	if paused {
		s.paused[hook+"/"+action] = true
	} else {
		delete(s.paused, hook+"/"+action)
	}
	s.mu.Unlock()
	s.wake()
	return nil
}

// Cancel cancels a job: a queued one at once, a running one by stopping its
// run (its command's group gets SIGTERM). A job that finished before the
// cancel took effect is an error wrapping store.ErrState.
//
// The job may move on between a look and the write: a run that ended by
// itself as the cancel came puts its job back in its queue (a retry due),
// and a job read as queued may start before the cancel is written. Either
// way the cancel is tried again, a couple of times.
func (s *Scheduler) Cancel(ctx context.Context, jobID string) (*store.Job, error) {
	var j *store.Job
	var err error
	for try := 0; try < 3; try++ {
		j, err = s.cancelOnce(ctx, jobID)
		if err == nil && (j.State == store.Pending || j.State == store.Failed) {
			continue // back in its queue: take it out of there
		}
		if errors.Is(err, store.ErrState) {
			if cur, gerr := s.st.GetJob(jobID); gerr == nil && cur.State == store.Running {
				continue // started meanwhile: cancelled as a job that runs
			}
		}
		break
	}
	if err == nil && j.State.Finished() && j.State != store.Cancelled {
		return nil, fmt.Errorf("cancel job %s (%s): it finished before the cancel took effect: %w", jobID, j.State, store.ErrState)
	}
	return j, err
}

// cancelOnce is one try of Cancel.
func (s *Scheduler) cancelOnce(ctx context.Context, jobID string) (*store.Job, error) {
	s.mu.Lock()
	r := s.running[jobID]
	s.mu.Unlock()
	if r == nil {
		if j, err := s.st.GetJob(jobID); err == nil && j.State == store.Running {
			r = s.awaitLaunch(ctx, jobID)
		}
	}
	if r != nil {
		// Stop the run and wait for it to be recorded, so that the answer
		// is the job as cancelled; a command that holds out past
		// KillGrace is answered as still running.
		r.cancel(errCancelled)
		wait := time.NewTimer(s.opts.KillGrace + 5*time.Second)
		defer wait.Stop()
		select {
		case <-r.done:
		case <-wait.C:
		case <-ctx.Done():
		}
		if j, err := s.st.GetJob(jobID); err == nil {
			return j, nil
		}
		return r.job, nil
	}
	j, err := s.st.GetJob(jobID)
	if err != nil {
		return nil, err
	}
	conc := 1
	if a := s.cfg.Load().Action(j.Hook, j.Action); a != nil {
		conc = a.Concurrency
	}
	j, err = s.st.Cancel(ctx, jobID, "cancelled by a person", conc)
	s.wake()
	return j, err
}

// Retry runs a failed, dead, skipped or cancelled job again now.
func (s *Scheduler) Retry(ctx context.Context, jobID string) (*store.Job, error) {
	key, err := s.retryKey(jobID)
	if err != nil {
		return nil, err
	}
	j, err := s.st.RetryKeyed(ctx, jobID, key)
	s.wake()
	return j, err
}

// retryKey is the queue key of a finished job about to be retried whose
// key was never rendered: its when skipped it, and planning stops there (a
// key would cost a parse of the whole payload on every event the action
// does not take). It is rendered now, from the job's event, so that the
// job runs in its own queue, not the empty key's. Nil when there is none
// to render.
func (s *Scheduler) retryKey(jobID string) (*string, error) {
	j, err := s.st.GetJob(jobID)
	if err != nil || j.Key != "" || (j.State != store.Skipped && j.State != store.Dead && j.State != store.Cancelled) {
		return nil, nil // Retry says what is wrong, if anything
	}
	a := s.cfg.Load().Action(j.Hook, j.Action)
	if a == nil || a.Key == nil {
		return nil, nil
	}
	ev, err := s.st.GetEvent(j.EventID, true)
	if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", jobID, err)
	}
	k, err := a.Key.Execute(EventData(ev))
	if err != nil {
		return nil, fmt.Errorf("retry job %s: its queue key: %v: %w", jobID, err, store.ErrState)
	}
	return &k, nil
}

// ErrNoActions is a replay of an event whose hook has no actions now.
var ErrNoActions = errors.New("no such action in the config")

// Replay queues an event's actions again, as the config defines them now
// (when and key are evaluated again). With action set, only that one.
func (s *Scheduler) Replay(ctx context.Context, eventID, action string) ([]*store.Job, error) {
	jobs, err := s.ReplayPlan(eventID, action)
	if err != nil {
		return nil, err
	}
	out, err := s.st.AddJobs(ctx, eventID, jobs)
	s.wake()
	return out, err
}

// ReplayPlan returns the jobs Replay would add, writing nothing (a dry
// run): those its when skips have Skip set.
func (s *Scheduler) ReplayPlan(eventID, action string) ([]store.NewJob, error) {
	ev, err := s.st.GetEvent(eventID, true)
	if err != nil {
		return nil, err
	}
	cfg := s.cfg.Load()
	jobs := cfg.Plan(ev.Hook, EventData(ev))
	if action != "" {
		var only []store.NewJob
		for _, j := range jobs {
			if j.Action == action {
				only = append(only, j)
			}
		}
		jobs = only
	}
	if len(jobs) == 0 {
		if action != "" {
			return nil, fmt.Errorf("hook %s has no action %q: %w", ev.Hook, action, ErrNoActions)
		}
		return nil, fmt.Errorf("hook %s has no actions: %w", ev.Hook, ErrNoActions)
	}
	return jobs, nil
}
