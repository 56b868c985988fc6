package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ReloadOptions configure a running Reloader.
type ReloadOptions struct {
	// Apply puts a loaded config into service: it maps it onto the parts
	// of the daemon and swaps their snapshots. An error rejects the config
	// as an invalid file would be; the running config stays. Required.
	Apply func(*Config) error
	// Observe, when set, is told the result of every reload.
	Observe func(ok bool)
	// Watch configures the file watcher.
	Watch  WatchOptions
	Logger *slog.Logger
}

// ReloadStatus is how reloading goes, for /api/status.
type ReloadStatus struct {
	// Result is "ok" or "error" after a reload, "" before any.
	Result string
	Time   time.Time
	// Error is the last reload's error while the file stays invalid.
	Error string
	// RestartNeeded lists the settings whose value in the file differs
	// from the one in effect, which only a restart changes.
	RestartNeeded []string
}

// Reloader keeps the daemon's config in step with its file. Load reads the
// file at start; Run watches the file (and its file: secrets) and reloads
// after a change; Reload asks for a reload (SIGHUP). A reload reads and
// validates the whole file, then hands it to Apply, which swaps it in at
// once; a file with errors leaves the running config in place, and its
// error is logged once (not once per event) and kept for Status.
type Reloader struct {
	path  string // absolute
	force chan string

	// Owned by Load, then by Run's goroutine.
	files  []string          // the config file, then the file: secrets it read
	sums   map[string]string // what those files held at the last load
	w      *Watcher
	log    *slog.Logger
	logged map[string]bool // errors logged since the last good load
	warned string          // warnings logged last
	needed string          // restart-needed settings logged last

	mu      sync.Mutex
	started *Config // in effect for the settings only a restart changes
	cur     *Config
	status  ReloadStatus
}

// NewReloader makes a Reloader for the config file at path.
func NewReloader(path string) *Reloader {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &Reloader{path: path, force: make(chan string, 1), logged: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
}

// Load loads the config the daemon starts with.
func (r *Reloader) Load() (*Config, []string, error) {
	cfg, warnings, err := r.load()
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	r.started, r.cur = cfg, cfg
	r.mu.Unlock()
	r.warned = strings.Join(warnings, "\n")
	return cfg, warnings, nil
}

// Config returns the config in service.
func (r *Reloader) Config() *Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Status reports the last reload.
func (r *Reloader) Status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.RestartNeeded = slices.Clone(s.RestartNeeded)
	return s
}

// Reload asks Run to reload the file now, whether or not it changed. It
// does not wait.
func (r *Reloader) Reload(trigger string) {
	select {
	case r.force <- trigger:
	default: // one is pending already
	}
}

// Run watches the files and reloads after each change, and on Reload,
// until ctx ends. Load must have succeeded first. When the files cannot
// be watched it says so and goes on with Reload (and the poll, if set).
func (r *Reloader) Run(ctx context.Context, opts ReloadOptions) {
	if opts.Logger != nil {
		r.log = opts.Logger
	}
	if opts.Watch.Logger == nil {
		opts.Watch.Logger = r.log
	}
	r.w = NewWatcher(opts.Watch)
	r.w.Watch(r.files...)
	var changes <-chan struct{}
	var poll <-chan time.Time
	if err := r.w.Open(); err != nil {
		// Out of inotify instances, say: fall back on the poll.
		r.log.Error("config file is not watched: changes apply with SIGHUP or at the poll", "err", err, "poll", opts.Watch.Poll.String())
		if opts.Watch.Poll > 0 {
			t := time.NewTicker(opts.Watch.Poll)
			defer t.Stop()
			poll = t.C
		}
	} else {
		changes = r.w.Changes()
	}
	defer r.w.Close()
	// A change between Load and the start of the watch: once the files
	// are quiet, when watched (a save under way now, as it came at the
	// start, was read in part).
	if changes != nil {
		r.w.Check()
	} else {
		r.reload(opts, "file change", false)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case trigger := <-r.force:
			r.reload(opts, trigger, true)
		case <-changes:
			r.reload(opts, "file change", false)
		case <-poll:
			r.reload(opts, "file change", false)
		}
	}
}

// reload loads the file and puts it into service, unless nothing changed
// and it was not forced.
func (r *Reloader) reload(opts ReloadOptions, trigger string, force bool) {
	if !force {
		if _, sums, _ := readFiles(r.path, r.files); maps.Equal(sums, r.sums) {
			return
		}
	}
	cfg, warnings, err := r.load()
	if err == nil {
		err = opts.Apply(cfg)
	}
	if opts.Observe != nil {
		// Last, once Status and the log tell the same.
		defer opts.Observe(err == nil)
	}
	if err != nil {
		r.failed(trigger, err)
		return
	}
	needed := RestartNeeded(r.started, cfg)
	r.mu.Lock()
	r.cur = cfg
	r.status = ReloadStatus{Result: "ok", Time: time.Now(), RestartNeeded: needed}
	r.mu.Unlock()
	clear(r.logged)
	if w := strings.Join(warnings, "\n"); w != r.warned {
		for _, line := range warnings {
			r.log.Warn(line)
		}
		r.warned = w
	}
	r.log.Info("config reloaded", "trigger", trigger, "hooks", len(cfg.Hooks))
	if n := strings.Join(needed, ", "); n != r.needed {
		if n != "" {
			r.log.Warn("restart needed: these settings changed in the file and keep their running values until webhookd restarts", "settings", n)
		} else {
			r.log.Info("restart no longer needed: the file matches the running settings again")
		}
		r.needed = n
	}
}

// failed records a reload that did not apply. Its error is logged once
// for each distinct content of the files.
func (r *Reloader) failed(trigger string, err error) {
	r.mu.Lock()
	r.status.Result, r.status.Time, r.status.Error = "error", time.Now(), err.Error()
	r.mu.Unlock()
	key := sumOf(r.sums) + "\x00" + err.Error()
	if r.logged[key] {
		r.log.Warn("config still invalid; the running config stays (error logged before, and in /api/status)", "trigger", trigger)
		return
	}
	if len(r.logged) >= 64 {
		clear(r.logged)
	}
	r.logged[key] = true
	r.log.Error("config reload failed; the running config stays", "trigger", trigger, "err", err)
}

// load reads the config file and the files it names, then parses it. When
// the config names files it did not name before, they are watched and
// everything is read again, so that what was parsed is also what the
// next comparison starts from.
func (r *Reloader) load() (*Config, []string, error) {
	for range 3 {
		if len(r.files) == 0 || r.files[0] != r.path {
			r.watch([]string{r.path})
		}
		src, sums, err := readFiles(r.path, r.files)
		r.sums = sums
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		if r.cur != nil && len(bytes.TrimSpace(src)) == 0 {
			// Most likely a save caught half-way (truncated, not yet
			// written); applied, it would remove every hook.
			return nil, nil, &Error{File: r.path, Msg: "the file is empty (a save in progress?); not applied"}
		}
		cfg, warnings, used, err := parse(r.path, src)
		if used == nil && err != nil {
			return nil, nil, err // not even TOML: keep watching what was
		}
		want := append([]string{r.path}, used...)
		slices.Sort(want[1:])
		want = slices.Compact(want)
		known := true
		for _, f := range want {
			if _, ok := sums[f]; !ok {
				known = false
			}
		}
		r.watch(want)
		if known {
			for f := range r.sums {
				if !slices.Contains(want, f) {
					delete(r.sums, f)
				}
			}
			return cfg, warnings, err
		}
	}
	return nil, nil, &Error{File: r.path, Msg: "the files it names keep changing; try again"}
}

func (r *Reloader) watch(files []string) {
	r.files = files
	if r.w != nil {
		r.w.Watch(files...)
	}
}

// readFiles reads the config file (files[0] is path) and sums up what
// each of files holds.
func readFiles(path string, files []string) ([]byte, map[string]string, error) {
	sums := make(map[string]string, len(files))
	var src []byte
	var srcErr error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if f == path {
			src, srcErr = b, err
		}
		if err != nil {
			sums[f] = "error: " + err.Error()
			continue
		}
		h := sha256.Sum256(b)
		sums[f] = hex.EncodeToString(h[:])
	}
	return src, sums, srcErr
}

// sumOf is one sum for all of sums.
func sumOf(sums map[string]string) string {
	keys := slices.Collect(maps.Keys(sums))
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, sums[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// RestartNeeded lists the settings that differ between the config in
// effect at start and next and that only a restart applies: the addresses
// bound, the database opened, the admin token, the logger, TLS.
// Everything else (hooks, actions, secrets, limits, retention) applies on
// reload.
func RestartNeeded(running, next *Config) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	rs, ns := running.Server, next.Server
	add("server.listen", rs.Listen != ns.Listen)
	add("server.tls_cert", rs.TLSCert != ns.TLSCert)
	add("server.tls_key", rs.TLSKey != ns.TLSKey)
	add("server.acme_domains", !slices.Equal(rs.ACMEDomains, ns.ACMEDomains))
	add("server.acme_email", rs.ACMEEmail != ns.ACMEEmail)
	add("server.acme_http", rs.ACMEHTTP != ns.ACMEHTTP)
	add("server.acme_directory", rs.ACMEDirectory != ns.ACMEDirectory)
	add("store.path", running.Store.Path != next.Store.Path)
	add("admin.listen", running.Admin.Listen != next.Admin.Listen)
	add("admin.token", !sameSecret(running.Admin.Token, next.Admin.Token))
	add("log.format", running.Log.Format != next.Log.Format)
	return out
}

func sameSecret(a, b *Secret) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.source == b.source && bytes.Equal(a.value, b.value)
}
