package actions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// sweepRunDirs removes the dead run directories in parent, with what they
// hold, and returns them: what a scheduler's start does, less stopping
// the runs.
func sweepRunDirs(parent string) ([]string, error) {
	dead, err := deadRunDirs(parent)
	var removed []string
	var errs []error
	for _, d := range dead {
		if rerr := d.remove(); rerr != nil {
			errs = append(errs, rerr)
		} else {
			removed = append(removed, d.path)
		}
	}
	return removed, errors.Join(append(errs, err)...)
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestSweepRunDirs: a sweep removes a run directory whose lock no one
// holds, with its files, and leaves alone one whose lock is held, one
// without a lock file, and what is not a run directory.
func TestSweepRunDirs(t *testing.T) {
	parent := t.TempDir()
	live, err := makeRunDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	dead, err := makeRunDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := writePayload("", dead.path, "06H4X0000000000J", 1, []byte(`{"left":"behind"}`)); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	dead.lock.Close() // as the kernel does when its process dies
	noLock := filepath.Join(parent, runDirPrefix+"nolock")
	other := filepath.Join(parent, "not-a-run-dir")
	for _, d := range []string{noLock, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	removed, err := sweepRunDirs(parent)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{dead.path}) {
		t.Errorf("removed %v; want only the dead one, %s", removed, dead.path)
	}
	for path, want := range map[string]bool{live.path: true, dead.path: false, noLock: true, other: true} {
		if got := exists(t, path); got != want {
			t.Errorf("%s exists = %v after the sweep; want %v", filepath.Base(path), got, want)
		}
	}
	if err := live.remove(); err != nil || exists(t, live.path) {
		t.Errorf("remove: %v, and the directory exists = %v; want it gone", err, exists(t, live.path))
	}
}

// TestRunDirHolder is not a test on its own: TestSweepRunDirs_KilledProcess
// runs the test binary on it, as a process that makes a run directory,
// says where, and waits to be killed.
func TestRunDirHolder(t *testing.T) {
	parent := os.Getenv("WEBHOOKD_TEST_RUNDIR_PARENT")
	if parent == "" {
		t.Skip("run by TestSweepRunDirs_KilledProcess")
	}
	d, err := makeRunDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rundir %s\n", d.path)
	time.Sleep(time.Minute)
}

// TestSweepRunDirs_KilledProcess: the directory of a live process is
// kept; once that process is killed with SIGKILL (it could not clean up),
// the next sweep removes it.
func TestSweepRunDirs_KilledProcess(t *testing.T) {
	parent := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunDirHolder$")
	cmd.Env = append(os.Environ(), "WEBHOOKD_TEST_RUNDIR_PARENT="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var path string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "rundir "); ok {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("the holder process did not make its directory")
	}
	if removed, err := sweepRunDirs(parent); err != nil || len(removed) != 0 {
		t.Fatalf("sweep while its process lives removed %v, %v; want none", removed, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if removed, err := sweepRunDirs(parent); err != nil || !slices.Equal(removed, []string{path}) {
		t.Fatalf("sweep after the kill removed %v, %v; want %s", removed, err, path)
	}
}

// TestScheduler_RunDirs: a started scheduler removes what a killed one
// left, and makes its own directory; Close removes that.
func TestScheduler_RunDirs(t *testing.T) {
	parent := t.TempDir()
	left, err := makeRunDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	left.lock.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(Options{Store: st, Logger: testLogger(t), TempDir: parent}, NewConfig(nil))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// The clean-up runs before the first dispatch, after Start returns.
	deadline := time.Now().Add(5 * time.Second)
	for exists(t, left.path) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if exists(t, left.path) {
		t.Errorf("the started scheduler left %s, whose scheduler is gone", left.path)
	}
	own := s.runDir
	if !exists(t, filepath.Join(own, runDirLock)) {
		t.Errorf("the scheduler's directory %s has no lock file", own)
	}
	if removed, err := sweepRunDirs(parent); err != nil || len(removed) != 0 {
		t.Errorf("a sweep while the scheduler runs removed %v, %v; want none", removed, err)
	}
	s.Close()
	if exists(t, own) {
		t.Errorf("Close left its directory %s", own)
	}
}

// TestScheduler_LostStart: a killed daemon ran a job whose start was not
// yet on disk (started while the finish before it was being written). The
// next start finds the job's payload file in the dead daemon's run
// directory, records the cut-off run, and runs the job as its second
// attempt: WEBHOOKD_ATTEMPT says 2, and both runs are in its history.
func TestScheduler_LostStart(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "attempts")
	a := execAction("h", "a", script(t, dir, "s.sh", `echo "$WEBHOOKD_ATTEMPT" >> `+logf+"\n"))
	st, cfg, ev := storeWithOneEvent(t, dir, a)
	dead, err := makeRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := writePayload("", dead.path, ev.JobIDs[0], 1, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	dead.lock.Close() // the daemon that held it was killed

	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	j := h.waitState(ev.ID, store.Succeeded)
	runs, _ := st.Runs(j.ID)
	b, _ := os.ReadFile(logf)
	if j.Attempts != 2 || len(runs) != 2 || runs[0].Result != store.RunInterrupted || strings.TrimSpace(string(b)) != "2" {
		t.Errorf("attempts %d, runs %+v, the script saw attempt %q; want 2 attempts, the cut-off one recorded, and WEBHOOKD_ATTEMPT=2", j.Attempts, runs, strings.TrimSpace(string(b)))
	}
}

// TestScheduler_EarlyStartKeepsTrace: a run started while the finish
// before it is being written (concurrency = 1) may end before that write
// does. Until the write lands, its payload file stays in the run
// directory: after a kill -9 in that window it is what tells the restart
// that the run happened, so that the rerun is attempt 2, not attempt 1
// again with no record of the first. Once the write lands it goes.
func TestScheduler_EarlyStartKeepsTrace(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "wait.sh", `[ "$1" = 2 ] || while [ ! -e "$0.go" ]; do sleep 0.01; done`+"\n")
	h, block, unblock := newHeldHarness(t, execAction("h", "seq", sh, "{{ .payload.n }}"))

	ev1 := h.ingest("h", `{"n": 1}`)
	ev2 := h.ingest("h", `{"n": 2}`)
	h.waitState(ev1, store.Running)
	j2 := h.jobs(ev2)[0]
	traces := func() []string {
		var out []string
		for _, d := range []string{h.s.runDir, h.s.memDir} {
			if d != "" {
				m, _ := filepath.Glob(filepath.Join(d, payloadPrefix+j2.ID+"-1.*"))
				out = append(out, m...)
			}
		}
		return out
	}

	// Run 1 ends; its finish, which starts run 2, is held in its commit;
	// run 2 runs and ends meanwhile.
	block.Store(true)
	if err := os.WriteFile(sh+".go", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	onBooks := func() int {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		return len(h.s.running)
	}
	// Both runs over (none listed as running), both still on the books.
	for len(h.s.Running()) > 0 || onBooks() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("run 2 never ended while run 1's finish was held; running %v", h.s.Running())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := traces(); len(got) != 1 {
		t.Errorf("run 2 over, its start not on disk: payload files %v; want its one file kept", got)
	}
	block.Store(false)
	unblock()
	h.waitState(ev2, store.Succeeded)
	waitUntil := time.Now().Add(5 * time.Second)
	for len(traces()) > 0 && time.Now().Before(waitUntil) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := traces(); len(got) != 0 {
		t.Errorf("payload files %v left after the start landed", got)
	}
}

// TestScheduler_EarlyStartNotLandedKeepsTrace: a run started early (its
// start in the commit of the finish before it) ends; that commit then
// fails, and so does every retry until the daemon stops. The run happened
// but its start never reached the disk: its payload file, and its run
// directory, are kept through the stop, so that the next start records the
// run and runs the job again as attempt 2, as after a kill -9 in the same
// window — not as attempt 1 again, the first run missing from its history.
func TestScheduler_EarlyStartNotLandedKeepsTrace(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "wait.sh", `echo "$1 $WEBHOOKD_ATTEMPT" >> `+logf+"\n"+`[ "$1" = 2 ] || while [ ! -e "$0.go" ]; do sleep 0.01; done`+"\n")
	a := execAction("h", "seq", sh, "{{ .payload.n }}")
	var mode atomic.Int32 // 0 ok, 1 hold then fail, 2 fail
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	dbPath := filepath.Join(dir, "a.db")
	st, err := store.Open(dbPath, store.Options{FailWrites: func() error {
		switch mode.Load() {
		case 1:
			<-release
			return errors.New("injected: disk failing")
		case 2:
			return errors.New("injected: disk failing")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{a})
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	ev1 := h.ingest("h", `{"n": 1}`)
	ev2 := h.ingest("h", `{"n": 2}`)
	h.waitState(ev1, store.Running)

	mode.Store(1)
	if err := os.WriteFile(sh+".go", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	onBooks := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.running)
	}
	for len(s.Running()) > 0 || onBooks() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("run 2 never ended while run 1's finish was held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mode.Store(2)
	unblock() // the held commit fails, and every retry
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	s.Shutdown(ctx)
	cancel()
	mode.Store(0)
	st.Close()

	// The next start, on a disk that works again.
	st2, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2 := New(Options{Store: st2, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir}, cfg)
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close(); st2.Close() })
	h2 := &harness{t: t, st: st2, s: s2, cfg: cfg, dir: dir}
	j := h2.waitState(ev2, store.Succeeded)
	runs, _ := st2.Runs(j.ID)
	b, _ := os.ReadFile(logf)
	var saw []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "2 ") {
			saw = append(saw, l)
		}
	}
	if j.Attempts != 2 || len(runs) != 2 || slices.Equal(saw, []string{"2 1", "2 1"}) {
		t.Errorf("job 2: attempts %d, %d runs recorded, the script saw %q; want attempt 2 the second time, both runs in its history", j.Attempts, len(runs), saw)
	}
}

// TestScheduler_RetryStartedByAnotherFinish: in a queue of concurrency 3,
// job J fails with a retry due at once, and job K ends in the same commit.
// K's finish starts J's retry while J's own finish is still being recorded
// (J still on the scheduler's books): the retry must run once that record
// is done, not be taken for the run under way — which left J running on
// disk, with nothing running it, for good.
func TestScheduler_RetryStartedByAnotherFinish(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "s.sh", `[ "$1" = j ] && [ "$WEBHOOKD_ATTEMPT" = 2 ] && exit 0
while [ ! -e "$0.go-$1" ]; do sleep 0.01; done
[ "$1" = j ] && exit 1
exit 0
`)
	a := execAction("h", "q", sh, "{{ .payload.n }}")
	a.Concurrency, a.Retries, a.Backoff = 3, 1, time.Millisecond
	h, block, unblock := newHeldHarness(t, a)
	evL := h.ingest("h", `{"n":"l"}`)
	evJ := h.ingest("h", `{"n":"j"}`)
	evK := h.ingest("h", `{"n":"k"}`)
	for _, ev := range []string{evL, evJ, evK} {
		h.waitState(ev, store.Running)
	}
	// L's finish holds the commit loop, so that J's and K's finishes,
	// queued behind it, are applied together (J's first).
	block.Store(true)
	os.WriteFile(sh+".go-l", nil, 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for len(h.s.Running()) > 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	os.WriteFile(sh+".go-j", nil, 0o600)
	os.WriteFile(sh+".go-k", nil, 0o600)
	for len(h.s.Running()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // their finishes queued
	block.Store(false)
	unblock()
	if j := h.waitState(evJ, store.Succeeded, store.Dead); j.State != store.Succeeded || j.Attempts != 2 {
		t.Errorf("J is %s after %d attempts; want its retry run and succeeded", j.State, j.Attempts)
	}
	h.waitState(evK, store.Succeeded)
}

// TestScheduler_ForeignRunDirs: the temp directories (/tmp, /dev/shm) are
// shared with every local user, who can make directories there named as
// run directories. A start must neither wait on what one holds (a FIFO as
// its lock file blocked the clean-up before the first dispatch for as
// long as nobody wrote to it: no job ever ran), nor take another user's
// directory for a dead daemon's (recording cut-off runs for the jobs its
// file names claim, or removing it).
func TestScheduler_ForeignRunDirs(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "tmp")
	if err := os.Mkdir(parent, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o777|os.ModeSticky)
	a := execAction("h", "a", "/bin/true")
	st, cfg, ev := storeWithOneEvent(t, dir, a)

	// A lock file that is a FIFO.
	fifoDir := filepath.Join(parent, runDirPrefix+"fifo")
	if err := os.Mkdir(fifoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(fifoDir, runDirLock), 0o644); err != nil {
		t.Fatal(err)
	}
	planted := []string{fifoDir}
	// Another user's directory, claiming a run of the job.
	if os.Geteuid() == 0 {
		other := filepath.Join(parent, runDirPrefix+"other")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{runDirLock, payloadPrefix + ev.JobIDs[0] + "-1.x"} {
			if err := os.WriteFile(filepath.Join(other, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{other, filepath.Join(other, runDirLock), filepath.Join(other, payloadPrefix+ev.JobIDs[0]+"-1.x"), fifoDir, filepath.Join(fifoDir, runDirLock)} {
			if err := os.Lchown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		planted = append(planted, other)
	} else {
		t.Log("not root: another user's directory is not tried")
	}

	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: parent}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A blocked open is let go by a writer.
		if w, err := os.OpenFile(filepath.Join(fifoDir, runDirLock), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		s.Close()
		st.Close()
	})
	deadline := time.Now().Add(4 * time.Second)
	var j *store.Job
	for {
		js, err := st.Jobs(ev)
		if err != nil {
			t.Fatal(err)
		}
		j = js[0]
		if j.State == store.Succeeded || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j.State != store.Succeeded || j.Attempts != 1 {
		t.Errorf("job is %s after %d attempts; want succeeded at its first (the planted directories stalled the start or claimed a run)", j.State, j.Attempts)
	}
	for _, p := range planted {
		if !exists(t, p) {
			t.Errorf("the start removed %s, which is not its own", p)
		}
	}
}

// storeWithOneEvent opens a store in dir with one event of hook h, whose
// jobs a's config plans, and returns it with that config and the event.
func storeWithOneEvent(t *testing.T, dir string, a *Action) (*store.Store, *Config, *store.Event) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{a})
	d := &tmpl.Data{Hook: "h", Event: "push", ContentType: "application/json", Body: []byte(`{}`), Headers: map[string]string{}, Query: map[string]string{}}
	res, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "h", Type: "push", ContentType: "application/json", Body: []byte(`{}`), Jobs: cfg.Plan("h", d)})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.GetEvent(res.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	return st, cfg, ev
}

// TestScheduler_CutRunsReported: the runs a killed daemon cut off, which a
// start records as interrupted — those Open found running, and a lost
// start — are reported to OnRun as interrupted runs of their action, cut
// (their duration is not known), so that the metrics count every run the
// API shows. The killed daemon never could.
func TestScheduler_CutRunsReported(t *testing.T) {
	dir := t.TempDir()
	a := execAction("h", "a", script(t, dir, "s.sh", "exit 0\n"))
	st, cfg, ev := storeWithOneEvent(t, dir, a)
	// A lost start of the event's job, left by a killed daemon.
	dead, err := makeRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := writePayload("", dead.path, ev.JobIDs[0], 1, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	dead.lock.Close()

	var mu sync.Mutex
	var runs []RunInfo
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir, OnRun: func(r RunInfo) {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, r)
	}}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	h.waitState(ev.ID, store.Succeeded)
	mu.Lock()
	defer mu.Unlock()
	want := []RunInfo{
		{Hook: "h", Action: "a", Result: store.RunInterrupted, Cut: true},
		{Hook: "h", Action: "a", Result: store.RunSucceeded},
	}
	if len(runs) != 2 || runs[0] != want[0] || runs[1].Result != want[1].Result || runs[1].Cut {
		t.Errorf("OnRun got %+v; want the cut-off run (interrupted, cut), then the rerun (succeeded)", runs)
	}
}
