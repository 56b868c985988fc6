package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults of a Watcher.
const (
	DefaultDebounce = 100 * time.Millisecond
	DefaultMaxDelay = 10 * time.Second
)

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Debounce is how long the watched files must stay quiet before a
	// change is reported (default 100ms): one save by an editor, git or a
	// config-management tool is a burst of several events.
	Debounce time.Duration
	// MaxDelay bounds the wait while events keep coming (default 10s): a
	// file written without end is still read now and then. It is long,
	// because a file read while it is still being written may be valid
	// TOML with only part of it: a save that takes a few seconds must be
	// read once it is done.
	MaxDelay time.Duration
	// Poll, when more than 0, also reports a possible change every Poll:
	// a fallback for filesystems that send no events (NFS and other
	// network filesystems).
	Poll   time.Duration
	Logger *slog.Logger
}

// Watcher reports changes to a set of files. It watches each file's
// directory rather than the file, so it sees every way a file is saved:
// written in place, truncated and rewritten, replaced by a rename (vim,
// most editors, config-management tools), removed and created again (git
// checkout). It follows symbolic links: the directory holding each link of
// a chain is watched too, so swapping a link (the Kubernetes ConfigMap
// "..data" pattern, a "current" release link) is seen. It also watches the
// file itself, which catches writes through another name for the same
// file (a bind mount).
//
// A Watcher reports that something may have changed, not what: its
// receiver compares contents. Events for other files in the directories
// are ignored (the database beside the config writes all the time).
type Watcher struct {
	opts    WatchOptions
	log     *slog.Logger
	changes chan struct{}

	mu    sync.Mutex
	files []string
	names map[string]bool // paths whose events count
	dirs  map[string]bool // directories watched
	leafs map[string]bool // files watched themselves

	fs     *fsnotify.Watcher
	kick   chan struct{} // an event for a watched file
	poll   chan struct{} // a tick of WatchOptions.Poll
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// NewWatcher makes a Watcher; Open starts it.
func NewWatcher(opts WatchOptions) *Watcher {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay < opts.Debounce {
		opts.MaxDelay = max(DefaultMaxDelay, opts.Debounce)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		opts:    opts,
		log:     opts.Logger,
		changes: make(chan struct{}, 1),
		names:   map[string]bool{},
		dirs:    map[string]bool{},
		leafs:   map[string]bool{},
		kick:    make(chan struct{}, 1),
		poll:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
}

// Open starts watching the files given to Watch (before or after Open).
func (w *Watcher) Open() error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	w.mu.Lock()
	w.fs = fw
	w.sync()
	w.mu.Unlock()
	w.wg.Add(2)
	go w.read()
	go func() {
		defer w.wg.Done()
		debounce(w.stop, w.kick, w.poll, w.opts.Debounce, w.opts.MaxDelay, w.lastWrite, w.fire)
	}()
	return nil
}

// Check asks for a report (on Changes) without an event, as a poll does:
// at once if the files are quiet, else once they are, so that a save
// under way is not read in part.
func (w *Watcher) Check() { notify(w.poll) }

// Changes delivers a value after the watched files may have changed. One
// value stands for any number of changes since the last was received.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Watch replaces the set of files watched (absolute paths). It may be
// called at any time, also before Open.
func (w *Watcher) Watch(files ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files = slices.Clone(files)
	w.sync()
}

// Files returns the files watched.
func (w *Watcher) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.files)
}

// Close stops watching and waits for its goroutines. It is idempotent.
func (w *Watcher) Close() error {
	var err error
	w.closed.Do(func() {
		close(w.stop)
		if w.fs != nil {
			err = w.fs.Close()
		}
		w.wg.Wait()
	})
	return err
}

// read takes fsnotify's events and passes on those that concern the
// watched files.
func (w *Watcher) read() {
	defer w.wg.Done()
	var tick <-chan time.Time
	if w.opts.Poll > 0 {
		t := time.NewTicker(w.opts.Poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.relevant(ev.Name) {
				w.log.Debug("config watch event", "path", ev.Name, "op", ev.Op.String())
				notify(w.kick)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			// An overflowed queue lost events: check anyway.
			w.log.Warn("config watch", "err", err)
			notify(w.kick)
		case <-tick:
			// Through the debounce: a tick during a save would read
			// the file in part.
			w.Check()
		case <-w.stop:
			return
		}
	}
}

func (w *Watcher) relevant(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Events on a watched directory itself (removed, renamed away) count
	// too: sync then watches what is at its path now.
	name = filepath.Clean(name)
	return w.names[name] || w.dirs[name]
}

// lastWrite returns when the watched files were last modified (the
// newest of them; the zero time if none can be read).
func (w *Watcher) lastWrite() time.Time {
	var last time.Time
	for _, f := range w.Files() {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last
}

// fire follows links that may have been swapped, then reports.
func (w *Watcher) fire() {
	w.mu.Lock()
	w.sync()
	w.mu.Unlock()
	notify(w.changes)
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sync resolves each file's chain of links again and adds and removes
// watches to match. w.mu is held.
func (w *Watcher) sync() {
	names, dirs, leafs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range w.files {
		links, target := chain(f)
		names[filepath.Clean(f)] = true
		for _, l := range links {
			names[l] = true
			dirs[filepath.Dir(l)] = true
		}
		names[target] = true
		dirs[filepath.Dir(target)] = true
		if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() {
			leafs[target] = true
		}
	}
	// A directory that does not exist yet (a secret's, say) is watched
	// through the nearest one that does, to see it made.
	ancestors := map[string]bool{}
	for d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			delete(dirs, d)
			if a, next := existingAncestor(d); a != "" {
				ancestors[a] = true
				names[next] = true
			}
		}
	}
	for a := range ancestors {
		dirs[a] = true
	}
	w.names = names
	if w.fs == nil {
		return // Open watches them
	}
	for d := range w.dirs {
		if !dirs[d] {
			w.unwatch(d)
		}
	}
	for f := range w.leafs {
		// Always again: the name may now be another file (a rename-save).
		w.unwatch(f)
	}
	// A directory removed or renamed away lost its watch with it (a
	// deploy that swaps the config's directory): what fsnotify still
	// watches is the truth, not w.dirs.
	watched := map[string]bool{}
	for _, p := range w.fs.WatchList() {
		watched[filepath.Clean(p)] = true
	}
	for d := range dirs {
		if w.dirs[d] && watched[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			// Gone since the look above, or not ours to watch: looked at
			// again at the next event or poll.
			w.log.Warn("config watch: cannot watch directory", "dir", d, "err", err)
			delete(dirs, d)
		}
	}
	for f := range leafs {
		if err := w.fs.Add(f); err != nil {
			delete(leafs, f)
		}
	}
	w.dirs, w.leafs = dirs, leafs
}

// existingAncestor returns the nearest directory above d that exists, and
// the path in it that leads down to d (its first missing part).
func existingAncestor(d string) (dir, next string) {
	for p := filepath.Clean(d); ; {
		parent := filepath.Dir(p)
		if parent == p {
			return "", ""
		}
		if fi, err := os.Stat(parent); err == nil && fi.IsDir() {
			return parent, p
		}
		p = parent
	}
}

func (w *Watcher) unwatch(p string) {
	if err := w.fs.Remove(p); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		w.log.Debug("config watch: remove", "path", p, "err", err)
	}
}

// chain resolves path's symbolic links one at a time. links are the links
// met, in order (any component may be one); target is what path finally
// names, or the point where resolving stopped (a missing file, a loop).
// Every directory in which a link or the target lives is free of links.
func chain(path string) (links []string, target string) {
	p := filepath.Clean(path)
	for range 40 {
		link, next, ok := firstLink(p)
		if !ok {
			break
		}
		links = append(links, link)
		p = next
	}
	return links, p
}

// firstLink finds the first component of the absolute path p that is a
// symbolic link, and returns it and p with it replaced by its target.
func firstLink(p string) (link, resolved string, ok bool) {
	sep := string(filepath.Separator)
	parts := strings.Split(strings.TrimPrefix(p, sep), sep)
	cur := sep
	for i, part := range parts {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", "", false
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(next)
			if err != nil {
				return "", "", false
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(cur, t)
			}
			return next, filepath.Join(append([]string{t}, parts[i+1:]...)...), true
		}
		cur = next
	}
	return "", "", false
}

// debounce calls fire once in has been quiet for quiet, and no later than
// maxDelay after the first value of a burst, until stop is closed. Before
// it fires, it asks lastWrite (when not nil) for the time the files were
// last written: a write less than quiet ago, whose event is not in yet (a
// busy machine may hold up the goroutine that reads them, or the events
// arrive with the timer), puts the report off until quiet after it, so
// that a save still being written is not read in part. A value on poll
// asks for a report without an event (a file system that sends none): at
// once if the files are quiet, else once they are; it does not put off
// one already coming.
func debounce(stop <-chan struct{}, in, poll <-chan struct{}, quiet, maxDelay time.Duration, lastWrite func() time.Time, fire func()) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var first time.Time
	pending := false
	// arm waits until quiet after last, or until maxDelay after the
	// burst's first event, whichever comes first.
	arm := func(now, last time.Time) {
		if !pending {
			pending, first = true, now
		}
		t.Reset(max(min(last.Add(quiet).Sub(now), first.Add(maxDelay).Sub(now)), 0))
	}
	// written is when the files were last written, if that was less than
	// quiet ago; else the zero time. A write in the future (a clock set
	// back, a file system whose clock is not ours) is not waited for.
	written := func(now time.Time) time.Time {
		if lastWrite != nil {
			if w := lastWrite(); w.Before(now) && now.Sub(w) < quiet {
				return w
			}
		}
		return time.Time{}
	}
	for {
		select {
		case <-in:
			now := time.Now()
			arm(now, now)
		case <-poll:
			if pending {
				continue // a report is coming
			}
			now := time.Now()
			last := now.Add(-quiet)
			if w := written(now); !w.IsZero() {
				last = w
			}
			arm(now, last)
		case <-t.C:
			now := time.Now()
			if now.Sub(first) < maxDelay {
				select {
				case <-in: // came with the timer: the save goes on
					arm(now, now)
					continue
				default:
				}
				if w := written(now); !w.IsZero() {
					arm(now, w)
					continue
				}
			}
			pending = false
			fire()
		case <-stop:
			return
		}
	}
}
