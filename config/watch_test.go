package config

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestDebounce: a burst of events is one report, quiet for the debounce
// after its last event; a steady stream is reported at least every
// maxDelay; nothing without events.
func TestDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		f := newFirings()
		go func() {
			defer close(done)
			debounce(stop, in, nil, 100*time.Millisecond, 500*time.Millisecond, nil, f.fire)
		}()
		got := f.got

		// Three events 30ms apart: one report, 100ms after the last.
		for range 3 {
			in <- struct{}{}
			time.Sleep(30 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		if g, want := got(), []time.Duration{160 * time.Millisecond}; !slices.Equal(g, want) {
			t.Errorf("burst: fired at %v; want %v", g, want)
		}

		// An event every 70ms for 1.2s: reported 500ms after the first of
		// each burst while events keep coming, then 100ms after the last.
		f.restart()
		for i := 0; i*70 < 1200; i++ {
			in <- struct{}{}
			time.Sleep(70 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		if g, want := got(), []time.Duration{500 * time.Millisecond, 1060 * time.Millisecond, 1290 * time.Millisecond}; !slices.Equal(g, want) {
			t.Errorf("stream: fired at %v; want %v", g, want)
		}

		time.Sleep(time.Minute)
		if g := got(); len(g) != 0 {
			t.Errorf("no events: fired at %v", g)
		}
		close(stop)
		<-done
	})
}

// TestChain: links are followed one at a time, in any component, and the
// directories they live in are free of links.
func TestChain(t *testing.T) {
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "cm", "..v1"))
	mustWrite(t, filepath.Join(dir, "cm", "..v1", "webhookd.toml"), "x")
	mustSymlink(t, "..v1", filepath.Join(dir, "cm", "..data"))
	mustSymlink(t, "..data/webhookd.toml", filepath.Join(dir, "cm", "webhookd.toml"))
	mustSymlink(t, "cm", filepath.Join(dir, "current"))

	for _, tc := range []struct {
		name, path string
		links      []string
		target     string
	}{
		{"plain file", "cm/..v1/webhookd.toml", nil, "cm/..v1/webhookd.toml"},
		{"missing file", "cm/nothing.toml", nil, "cm/nothing.toml"},
		{"configmap", "cm/webhookd.toml", []string{"cm/webhookd.toml", "cm/..data"}, "cm/..v1/webhookd.toml"},
		{"linked directory", "current/webhookd.toml", []string{"current", "cm/webhookd.toml", "cm/..data"}, "cm/..v1/webhookd.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			links, target := chain(filepath.Join(dir, tc.path))
			var want []string
			for _, l := range tc.links {
				want = append(want, filepath.Join(dir, l))
			}
			if !slices.Equal(links, want) || target != filepath.Join(dir, tc.target) {
				t.Errorf("chain(%s) = %v, %s; want %v, %s", tc.path, links, target, want, filepath.Join(dir, tc.target))
			}
		})
	}
	mustSymlink(t, "loop2", filepath.Join(dir, "loop1"))
	mustSymlink(t, "loop1", filepath.Join(dir, "loop2"))
	if links, _ := chain(filepath.Join(dir, "loop1")); len(links) != 40 {
		t.Errorf("a link loop followed %d links; want it cut at 40", len(links))
	}
}

// TestWatcher_SaveStyles: every way a file gets saved is reported, with
// real files and real inotify.
func TestWatcher_SaveStyles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the watched path
		save  func(t *testing.T, dir, path, content string)
	}{
		{"in-place write", plainFile, func(t *testing.T, dir, path, content string) { mustWrite(t, path, content) }},
		{"truncate then write", plainFile, func(t *testing.T, dir, path, content string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendTo(t, path, content)
		}},
		{"write temp and rename (vim, most editors)", plainFile, func(t *testing.T, dir, path, content string) {
			tmp := filepath.Join(dir, ".webhookd.toml.swp")
			mustWrite(t, tmp, content)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"backup by rename, then write (vim backupcopy=no)", plainFile, func(t *testing.T, dir, path, content string) {
			if err := os.Rename(path, path+"~"); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, path, content)
			os.Remove(path + "~")
		}},
		{"remove then create (git checkout)", plainFile, func(t *testing.T, dir, path, content string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, path, content)
		}},
		{"configmap ..data swap", configMap, swapConfigMap},
		{"release link swap, old release kept", releaseLink, func(t *testing.T, dir, path, content string) {
			// Only the watch on the link's directory sees this.
			rel := filepath.Join(dir, "releases", content)
			mustMkdir(t, rel)
			mustWrite(t, filepath.Join(rel, "webhookd.toml"), content)
			mustSymlink(t, rel, filepath.Join(dir, "current.tmp"))
			if err := os.Rename(filepath.Join(dir, "current.tmp"), filepath.Join(dir, "current")); err != nil {
				t.Fatal(err)
			}
		}},
		{"write through another name (bind mount)", plainFile, func(t *testing.T, dir, path, content string) {
			other := filepath.Join(t.TempDir(), "alias.toml")
			if err := os.Link(path, other); err != nil {
				t.Fatal(err)
			}
			// Only the file's own watch sees this: the directory does not.
			mustWrite(t, other, content)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			w := openWatcher(t, path)
			for i, content := range []string{"one", "two"} {
				tc.save(t, dir, path, content)
				if !waitChange(w, 5*time.Second) {
					t.Fatalf("save %d not reported", i+1)
				}
				if b, _ := os.ReadFile(path); string(b) != content {
					t.Fatalf("after save %d the file holds %q", i+1, b)
				}
				// The burst is reported once.
				if waitChange(w, 150*time.Millisecond) {
					t.Errorf("save %d reported twice", i+1)
				}
			}
		})
	}
}

// TestWatcher_Created: a file that does not exist yet is reported when it
// is created (only its directory's watch can see that).
func TestWatcher_Created(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	w := openWatcher(t, path)
	mustWrite(t, path, "new")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("creating the file was not reported")
	}
	mustWrite(t, path, "newer")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("writing the created file was not reported")
	}
}

// A watched file in a directory that does not exist yet (a secret's, say)
// is seen at once when the directory and then the file are made, with no
// poll to fall back on.
func TestWatcher_CreatedInNewDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "deeper", "gh")
	w := openWatcher(t, path)
	mustMkdir(t, filepath.Join(dir, "secrets"))
	mustMkdir(t, filepath.Join(dir, "secrets", "deeper"))
	mustWrite(t, path, "s3cret")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("creating the file in new directories was not reported")
	}
	for waitChange(w, 300*time.Millisecond) {
	}
	mustWrite(t, path, "newer")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("writing the created file was not reported")
	}
}

// TestWatcher_DirectoryReplaced: after the config's directory is swapped
// for a new one (rm -rf conf; mv conf.new conf), saves in the new
// directory are still seen at once, also one that removes the file and
// creates it again, with no poll to fall back on.
func TestWatcher_DirectoryReplaced(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "conf")
	mustMkdir(t, conf)
	path := filepath.Join(conf, "webhookd.toml")
	mustWrite(t, path, "zero")
	w := openWatcher(t, path)
	next := filepath.Join(root, "conf.new")
	mustMkdir(t, next)
	mustWrite(t, filepath.Join(next, "webhookd.toml"), "one")
	if err := os.RemoveAll(conf); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, conf); err != nil {
		t.Fatal(err)
	}
	if !waitChange(w, 5*time.Second) {
		t.Fatal("the directory swap was not reported")
	}
	for _, body := range []string{"two", "three"} {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		waitChange(w, 500*time.Millisecond) // the removal, when it is reported
		mustWrite(t, path, body)
		if !waitChange(w, 3*time.Second) {
			t.Fatalf("creating the file again (%q) in the new directory was not reported within 3s", body)
		}
	}
}

// TestWatcher_DirectoryRenamedAway: the config's directory moved away
// whole (its files with it, so no event names the file) and another moved
// into its place: the event on the watched directory itself is what
// reports it, and the new directory is watched from then on.
func TestWatcher_DirectoryRenamedAway(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "conf")
	mustMkdir(t, conf)
	path := filepath.Join(conf, "webhookd.toml")
	mustWrite(t, path, "zero")
	w := openWatcher(t, path)
	next := filepath.Join(root, "conf.new")
	mustMkdir(t, next)
	mustWrite(t, filepath.Join(next, "webhookd.toml"), "one")
	if err := os.Rename(conf, filepath.Join(root, "conf.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, conf); err != nil {
		t.Fatal(err)
	}
	if !waitChange(w, 5*time.Second) {
		t.Fatal("the directory moved away and replaced was not reported")
	}
	mustWrite(t, path, "two")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("a write in the new directory was not reported")
	}
}

// TestWatcher_Ignores: other files in the directory (the database beside
// the config) are not reported.
func TestWatcher_Ignores(t *testing.T) {
	dir := t.TempDir()
	path := plainFile(t, dir)
	w := openWatcher(t, path)
	for i := range 20 {
		appendTo(t, filepath.Join(dir, "webhookd.db"), "page")
		mustWrite(t, filepath.Join(dir, "other.toml"), string(rune('a'+i)))
	}
	if waitChange(w, 300*time.Millisecond) {
		t.Error("writes to other files were reported")
	}
	mustWrite(t, path, "changed")
	if !waitChange(w, 5*time.Second) {
		t.Error("the watched file's change was not reported")
	}
}

// TestWatcher_SetFiles: files added later (a secret in another
// directory) are watched; files dropped are not.
func TestWatcher_SetFiles(t *testing.T) {
	dir := t.TempDir()
	path := plainFile(t, dir)
	secret := filepath.Join(dir, "secrets", "gh")
	mustMkdir(t, filepath.Dir(secret))
	w := openWatcher(t, path)
	mustWrite(t, secret, "s1")
	if waitChange(w, 200*time.Millisecond) {
		t.Fatal("an unwatched file was reported")
	}
	w.Watch(path, secret)
	mustWrite(t, secret, "s2")
	if !waitChange(w, 5*time.Second) {
		t.Fatal("the added file's change was not reported")
	}
	w.Watch(secret)
	mustWrite(t, path, "dropped")
	if waitChange(w, 200*time.Millisecond) {
		t.Fatal("a dropped file was reported")
	}
	if got := w.Files(); !slices.Equal(got, []string{secret}) {
		t.Errorf("Files() = %v", got)
	}
}

// TestWatcher_Poll: with Poll set, a change is reported without events.
func TestWatcher_Poll(t *testing.T) {
	dir := t.TempDir()
	w := NewWatcher(WatchOptions{Poll: 50 * time.Millisecond})
	w.Watch(filepath.Join(dir, "never-written.toml"))
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !waitChange(w, 5*time.Second) {
		t.Error("no report from the poll")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWatcher_PollWaitsForQuiet: a poll that comes while a file is being
// written does not report it in the middle of the save: it waits, as an
// event does, until the file has been quiet (before, a poll tick reported
// at once, and the daemon read a save in part: its hooks at the end were
// gone, 404, until the save ended; the daemon polls every 30 s). A writer
// that stalled past the quiet time judges nothing; the test tries again.
func TestWatcher_PollWaitsForQuiet(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "webhookd.toml")
	mustWrite(t, f, "x")
	w := NewWatcher(WatchOptions{Poll: 20 * time.Millisecond, Debounce: 100 * time.Millisecond})
	w.Watch(f)
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for attempt := 1; ; attempt++ {
		waitChange(w, 5*time.Second) // what came before
		var gap time.Duration
		last := time.Now()
		reported := false
		for i := range 25 { // a line every 20 ms, for half a second
			if err := os.WriteFile(f, []byte(time.Now().String()), 0o600); err != nil {
				t.Fatal(err)
			}
			gap = max(gap, time.Since(last))
			last = time.Now()
			select {
			case <-w.Changes():
				// While the file is quiet, each poll reports: one
				// made just before the first write is no fault.
				reported = reported || i > 0
			case <-time.After(20 * time.Millisecond):
			}
		}
		if !reported {
			break
		}
		if gap < 100*time.Millisecond {
			t.Fatalf("reported while the file was being written, every %v at most", gap.Round(time.Millisecond))
		}
		if attempt == 3 {
			t.Skipf("the writer stalled past the quiet time in three tries (%v): too busy to judge", gap.Round(time.Millisecond))
		}
	}
	if !waitChange(w, 5*time.Second) {
		t.Error("no report once the writes ended")
	}
}

func openWatcher(t *testing.T, files ...string) *Watcher {
	t.Helper()
	w := NewWatcher(WatchOptions{Logger: testLogger(t)})
	w.Watch(files...)
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func waitChange(w *Watcher, timeout time.Duration) bool {
	select {
	case <-w.Changes():
		return true
	case <-time.After(timeout):
		return false
	}
}

func plainFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "webhookd.toml")
	mustWrite(t, p, "zero")
	return p
}

// configMap lays out dir as Kubernetes mounts a ConfigMap:
// webhookd.toml -> ..data/webhookd.toml, ..data -> ..v0.
func configMap(t *testing.T, dir string) string {
	mustMkdir(t, filepath.Join(dir, "..v0"))
	mustWrite(t, filepath.Join(dir, "..v0", "webhookd.toml"), "zero")
	mustSymlink(t, "..v0", filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/webhookd.toml", filepath.Join(dir, "webhookd.toml"))
	return filepath.Join(dir, "webhookd.toml")
}

// releaseLink lays out dir as a deploy tool does: current -> releases/0,
// and the config file is current/webhookd.toml.
func releaseLink(t *testing.T, dir string) string {
	mustMkdir(t, filepath.Join(dir, "releases", "0"))
	mustWrite(t, filepath.Join(dir, "releases", "0", "webhookd.toml"), "zero")
	mustSymlink(t, filepath.Join(dir, "releases", "0"), filepath.Join(dir, "current"))
	return filepath.Join(dir, "current", "webhookd.toml")
}

// swapConfigMap updates a ConfigMap as the kubelet does: a new directory,
// a new link renamed over ..data, the old directory removed.
func swapConfigMap(t *testing.T, dir, _, content string) {
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	next := "..v" + content
	mustMkdir(t, filepath.Join(dir, next))
	mustWrite(t, filepath.Join(dir, next, "webhookd.toml"), content)
	mustSymlink(t, next, filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// firings records when a debounce fired, counted from a start, in a
// synctest bubble.
type firings struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func newFirings() *firings { return &firings{start: time.Now()} }

func (f *firings) restart() {
	f.mu.Lock()
	f.start = time.Now()
	f.mu.Unlock()
}

func (f *firings) fire() {
	f.mu.Lock()
	f.at = append(f.at, time.Since(f.start))
	f.mu.Unlock()
}

// got returns the firings since the last call, once the bubble is idle.
func (f *firings) got() []time.Duration {
	synctest.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.at
	f.at = nil
	return out
}

// TestDebounceLastWrite: writes whose events do not come in (a busy
// machine holds up the goroutine that reads them) still put the report
// off until the files have been quiet, by their modification time; a
// modification time in the future is not waited for.
func TestDebounceLastWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		f := newFirings()
		var mu sync.Mutex
		var written time.Time
		go func() {
			defer close(done)
			debounce(stop, in, nil, 100*time.Millisecond, time.Second, func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return written
			}, f.fire)
		}()
		write := func(at time.Time) {
			mu.Lock()
			written = at
			mu.Unlock()
		}
		got := f.got

		// One event, then a write every 40 ms until 320 ms with no event:
		// reported 100 ms after the last write.
		write(time.Now())
		in <- struct{}{}
		for range 8 {
			time.Sleep(40 * time.Millisecond)
			write(time.Now())
		}
		time.Sleep(5 * time.Second)
		if g, want := got(), []time.Duration{420 * time.Millisecond}; !slices.Equal(g, want) {
			t.Errorf("writes without events: fired at %v; want %v", g, want)
		}

		// Writes without end: reported at maxDelay all the same.
		f.restart()
		in <- struct{}{}
		for range 40 {
			write(time.Now())
			time.Sleep(40 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		if g, want := got(), []time.Duration{time.Second}; !slices.Equal(g, want) {
			t.Errorf("writes without end: fired at %v; want %v", g, want)
		}

		// A modification time an hour ahead: not waited for.
		f.restart()
		write(time.Now().Add(time.Hour))
		in <- struct{}{}
		time.Sleep(5 * time.Second)
		if g, want := got(), []time.Duration{100 * time.Millisecond}; !slices.Equal(g, want) {
			t.Errorf("a write in the future: fired at %v; want %v", g, want)
		}
		close(stop)
		<-done
	})
}
