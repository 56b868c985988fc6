package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeDisk is the free-space seam: it reports what the test sets and
// counts how often it was asked.
type fakeDisk struct {
	free  atomic.Int64
	calls atomic.Int64
	dirs  sync.Map
}

func (d *fakeDisk) FreeSpace(dir string) (int64, error) {
	d.calls.Add(1)
	d.dirs.Store(dir, true)
	return d.free.Load(), nil
}

func TestStore_MinFree(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }

	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s, path := openTest(t, Options{Now: now, MinFree: 64 << 20, FreeSpace: disk.FreeSpace})
	ctx := context.Background()

	// Plenty of room: accepted, and the disk is asked once however many
	// events arrive within a second.
	for i := range 50 {
		if _, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("a", i))); err != nil {
			t.Fatalf("Ingest with 1 GiB free: %v", err)
		}
	}
	if got := disk.calls.Load(); got != 1 {
		t.Errorf("free space asked %d times for 50 events within a second; want 1", got)
	}
	if _, ok := disk.dirs.Load(filepath.Dir(path)); !ok {
		t.Errorf("free space not asked about the database's directory %s", filepath.Dir(path))
	}

	// The disk fills: after the next look, ingest refuses and writes nothing.
	disk.free.Store(10 << 20)
	advance(diskRecheck)
	before, _ := s.Stats()
	_, err := s.Ingest(ctx, newEvent("h", "low"))
	if !errors.Is(err, ErrLowDisk) {
		t.Fatalf("Ingest with 10 MiB free, min_free 64 MiB = %v; want ErrLowDisk", err)
	}
	after, _ := s.Stats()
	if after.Events != before.Events {
		t.Errorf("events %d -> %d; a refused event was stored", before.Events, after.Events)
	}
	// Writes other than ingest go on: jobs must be able to finish.
	if err := s.SetPaused(ctx, "h", "a", true); err != nil {
		t.Errorf("SetPaused while the disk is low: %v", err)
	}

	// Room again: accepted after the next look, and the delivery was not
	// recorded as seen.
	disk.free.Store(1 << 30)
	if _, err := s.Ingest(ctx, newEvent("h", "low2")); !errors.Is(err, ErrLowDisk) {
		t.Errorf("Ingest before the next look = %v; want the previous verdict (ErrLowDisk)", err)
	}
	advance(diskRecheck)
	res, err := s.Ingest(ctx, newEvent("h", "low"))
	if err != nil || res.Duplicate {
		t.Fatalf("Ingest with room again = %+v, %v; want a new event", res, err)
	}

	// min_free 0 turns the check off.
	disk.free.Store(0)
	advance(diskRecheck)
	s.SetMinFree(0)
	if _, err := s.Ingest(ctx, newEvent("h", "off")); err != nil {
		t.Errorf("Ingest with min_free 0 and a full disk: %v; want no check", err)
	}
}

func TestStore_MinFreeCountsWritesBetweenLooks(t *testing.T) {
	now := time.Now()
	disk := &fakeDisk{}
	const min = 1 << 20
	disk.free.Store(min + 100<<10) // 100 KiB above the line
	s, _ := openTest(t, Options{Now: func() time.Time { return now }, MinFree: min, FreeSpace: disk.FreeSpace})
	ctx := context.Background()
	ev := func(i int) *NewEvent {
		e := newEvent("h", fmt.Sprint(i))
		e.Body = bytes.Repeat([]byte("x"), 30<<10)
		return e
	}
	accepted := 0
	for i := range 10 {
		if _, err := s.Ingest(ctx, ev(i)); err != nil {
			if !errors.Is(err, ErrLowDisk) {
				t.Fatalf("Ingest: %v", err)
			}
			break
		}
		accepted++
	}
	// 100 KiB of room, 30 KiB (and a little) per event: three fit.
	if accepted != 3 {
		t.Errorf("accepted %d events of 30 KiB with 100 KiB above min_free and no new look; want 3", accepted)
	}
	// The fourth, refused, wrote nothing and does not count: a small one
	// still fits in what is left.
	small := newEvent("h", "small")
	small.Body = bytes.Repeat([]byte("x"), 1<<10)
	if _, err := s.Ingest(ctx, small); err != nil {
		t.Errorf("1 KiB with about 8 KiB of room left, after a refused 30 KiB: %v; want accepted", err)
	}
	if got := disk.calls.Load(); got != 1 {
		t.Errorf("free space asked %d times; want 1", got)
	}
}

func TestFreeSpace(t *testing.T) {
	free, err := freeSpace(t.TempDir())
	if err != nil {
		t.Skipf("freeSpace: %v", err)
	}
	if free <= 0 {
		t.Errorf("freeSpace(TempDir) = %d; want more than 0", free)
	}
	if _, err := freeSpace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("freeSpace(missing dir) succeeded; want an error")
	}
}

// fill stores n events with bodies of size bytes; the events at the
// indexes in pending keep a pending job, the others are finished.
func fill(t *testing.T, s *Store, n, size int, pending map[int]bool) []string {
	t.Helper()
	ids := make([]string, n)
	body := bytes.Repeat([]byte("b"), size)
	for i := range n {
		j := NewJob{Action: "a", Skip: "finished"}
		if pending[i] {
			j = job(fmt.Sprint("p", i))
		}
		ev := newEvent("h", "", j)
		ev.Body = body
		res, err := s.Ingest(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.ID
	}
	return ids
}

func TestStore_PruneToSize(t *testing.T) {
	s, path := openTest(t, Options{})
	ctx := context.Background()
	const n = 600
	pending := map[int]bool{0: true, 5: true}
	ids := fill(t, s, n, 8<<10, pending)
	full, err := s.LiveSize()
	if err != nil {
		t.Fatal(err)
	}
	if full < n*8<<10 {
		t.Fatalf("LiveSize = %d after %d events of 8 KiB; want at least %d", full, n, n*8<<10)
	}
	max := full / 2
	deleted, err := s.PruneToSize(ctx, max)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := s.LiveSize()
	if live > max {
		t.Errorf("LiveSize = %d after PruneToSize(%d)", live, max)
	}
	// It stops soon after the limit, not a whole batch later.
	if slack := int64(20 * 12 << 10); live < max-slack {
		t.Errorf("LiveSize = %d after PruneToSize(%d): more than 20 events too many deleted", live, max)
	}
	if deleted < n/4 || deleted > n*3/4 {
		t.Errorf("PruneToSize deleted %d of %d events to halve the data", deleted, n)
	}
	// The oldest finished went first; the unfinished were kept; the
	// newest are all there.
	for i, id := range ids {
		_, err := s.GetEvent(id, false)
		gone := errors.Is(err, ErrNotFound)
		if err != nil && !gone {
			t.Fatal(err)
		}
		switch {
		case pending[i] && gone:
			t.Errorf("event %d (an unfinished job) was pruned", i)
		case !pending[i] && i < deleted && !gone:
			t.Errorf("event %d kept, but %d of the oldest were to go", i, deleted)
		case i >= deleted+len(pending) && gone:
			t.Errorf("event %d (among the newest) was pruned", i)
		}
	}
	// Under the limit: nothing more goes.
	if again, err := s.PruneToSize(ctx, max); err != nil || again != 0 {
		t.Errorf("second PruneToSize = %d, %v; want 0", again, err)
	}
	// The file keeps its size: the space is reused by new events.
	fi, _ := os.Stat(path)
	sizeBefore := fi.Size()
	fill(t, s, deleted/2, 8<<10, nil)
	fi, _ = os.Stat(path)
	if fi.Size() > sizeBefore {
		t.Errorf("file grew from %d to %d while refilling freed space", sizeBefore, fi.Size())
	}
}

func TestStore_PruneToSizePastUnfinished(t *testing.T) {
	s, _ := openTest(t, Options{})
	// The ten oldest are unfinished and hold more than the excess.
	pending := map[int]bool{}
	for i := range 10 {
		pending[i] = true
	}
	ids := fill(t, s, 100, 8<<10, pending)
	full, _ := s.LiveSize()
	n, err := s.PruneToSize(context.Background(), full-4<<10)
	if err != nil || n == 0 {
		t.Fatalf("PruneToSize = %d, %v; want finished events deleted past the unfinished ones", n, err)
	}
	for i := range 10 {
		if _, err := s.GetEvent(ids[i], false); err != nil {
			t.Errorf("unfinished event %d: %v", i, err)
		}
	}
}

func TestStore_PruneLoopMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := openTest(t, Options{})
		fill(t, s, 300, 8<<10, nil)
		full, _ := s.LiveSize()
		max := full / 3
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.PruneLoop(ctx, time.Hour, func() Policy { return Policy{MaxAge: 24 * time.Hour, MaxSize: max} })
		}()
		synctest.Wait() // the first pass is done; the loop waits for its ticker
		if live, _ := s.LiveSize(); live > max {
			t.Errorf("LiveSize = %d after a PruneLoop pass with MaxSize %d", live, max)
		}
		// New events push it over again; the next pass, an hour later,
		// brings it back.
		fill(t, s, 300, 8<<10, nil)
		if live, _ := s.LiveSize(); live <= max {
			t.Fatalf("LiveSize = %d after refilling; want over %d", live, max)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if live, _ := s.LiveSize(); live > max {
			t.Errorf("LiveSize = %d after the second pass with MaxSize %d", live, max)
		}
		cancel()
		<-done
	})
}

// TestStore_MinFreeFirstLook: the store looks at the disk when it opens,
// so the first requests, arriving together, never find the look under way
// and no figure to go by (they were refused as if the disk were full: "0
// bytes free"). A store opened on a disk already low says so and refuses.
func TestStore_MinFreeFirstLook(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	now := time.Now()
	s, _ := openTest(t, Options{Now: func() time.Time { return now }, MinFree: 64 << 20, FreeSpace: disk.FreeSpace})
	if got := disk.calls.Load(); got != 1 {
		t.Fatalf("free space asked %d times by Open; want 1", got)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			if _, err := s.Ingest(context.Background(), newEvent("h", fmt.Sprint("first", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("one of the first requests: %v", err)
	}

	low := &fakeDisk{}
	low.free.Store(1 << 20)
	logged := &lockedBuffer{}
	s2, _ := openTest(t, Options{Now: func() time.Time { return now }, MinFree: 64 << 20, FreeSpace: low.FreeSpace, Logger: slog.New(slog.NewTextHandler(logged, nil))})
	if _, err := s2.Ingest(context.Background(), newEvent("h", "x")); !errors.Is(err, ErrLowDisk) {
		t.Errorf("Ingest on a store opened with 1 MiB free, min_free 64 MiB = %v; want ErrLowDisk", err)
	}
	if got := logged.String(); !strings.Contains(got, "below min_free") {
		t.Errorf("opening on a low disk logged %q; want the warning", got)
	}
}

// lockedBuffer is a log destination that goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStore_MinFreeDuringALook: a request that comes while another is
// asking the file system uses the previous look's figure.
func TestStore_MinFreeDuringALook(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	free := func(string) (int64, error) {
		if calls.Add(1) == 2 {
			close(entered)
			<-release
		}
		return 1 << 30, nil
	}
	s, _ := openTest(t, Options{Now: now, MinFree: 64 << 20, FreeSpace: free})
	clock.Add(int64(diskRecheck))
	looking := make(chan error, 1)
	go func() {
		_, err := s.Ingest(context.Background(), newEvent("h", "looks"))
		looking <- err
	}()
	<-entered
	// The looking request holds the look; this one goes by the last.
	if err := s.disk.check(100); err != nil {
		t.Errorf("a request during a look: %v; want the previous figure used", err)
	}
	close(release)
	if err := <-looking; err != nil {
		t.Errorf("the request that looked: %v", err)
	}
}

// TestStore_PruneToSizePastABacklog: more unfinished events at the oldest
// end than one transaction looks at do not stop max_size: it goes on past
// them to the finished events behind.
func TestStore_PruneToSizePastABacklog(t *testing.T) {
	s, _ := openTest(t, Options{pruneScan: 20})
	pending := map[int]bool{}
	for i := range 25 {
		pending[i] = true
	}
	ids := fill(t, s, 55, 8<<10, pending)
	full, err := s.LiveSize()
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneToSize(context.Background(), full/2)
	live, _ := s.LiveSize()
	if err != nil || n == 0 || live > full/2 {
		t.Fatalf("PruneToSize(%d) past 25 held events (a transaction looks at 20) = %d, %v; live %d of %d", full/2, n, err, live, full)
	}
	for i, id := range ids[:25] {
		if _, err := s.GetEvent(id, false); err != nil {
			t.Errorf("held event %d: %v; want it kept", i, err)
		}
	}
}

// TestStore_MinFreeClockStepsBack: after the clock steps back, the guard
// looks at the disk again: space that came back is used at once, not when
// the clock has caught up.
func TestStore_MinFreeClockStepsBack(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	disk := &fakeDisk{}
	disk.free.Store(1 << 20)
	s, _ := openTest(t, Options{Now: now, MinFree: 64 << 20, FreeSpace: disk.FreeSpace})
	ctx := context.Background()
	if _, err := s.Ingest(ctx, newEvent("h", "x")); !errors.Is(err, ErrLowDisk) {
		t.Fatalf("low disk: %v; want ErrLowDisk", err)
	}
	clock.Add(int64(-time.Hour))
	disk.free.Store(1 << 30)
	if _, err := s.Ingest(ctx, newEvent("h", "y")); err != nil {
		t.Errorf("space back, clock an hour behind the last look: %v; want accepted", err)
	}
}

// Stats' FileSize is the file's size on disk, which bbolt grows ahead of
// the pages in use (what metrics and /api/status show as the database's
// bytes).
func TestStats_FileSize(t *testing.T) {
	s, path := openTest(t, Options{})
	fill(t, s, 200, 2<<10, nil)
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.FileSize != fi.Size() {
		t.Errorf("FileSize = %d; the file is %d bytes", st.FileSize, fi.Size())
	}
}

// TestStore_MinFreeOffAndOnLogsAgain: min_free turned off by a reload
// while the disk is low, then on again with the disk still low: the second
// episode is logged as the first was (the guard forgets its verdict when
// the check is off), and turning it off says the check no longer refuses.
func TestStore_MinFreeOffAndOnLogsAgain(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	disk := &fakeDisk{}
	disk.free.Store(1 << 20)
	logged := &lockedBuffer{}
	s, _ := openTest(t, Options{Now: now, MinFree: 64 << 20, FreeSpace: disk.FreeSpace, Logger: slog.New(slog.NewTextHandler(logged, nil))})
	ctx := context.Background()
	if _, err := s.Ingest(ctx, newEvent("h", "a")); !errors.Is(err, ErrLowDisk) {
		t.Fatalf("Ingest on a low disk = %v; want ErrLowDisk", err)
	}
	s.SetMinFree(0)
	if _, err := s.Ingest(ctx, newEvent("h", "b")); err != nil {
		t.Fatalf("Ingest with min_free off = %v", err)
	}
	s.SetMinFree(64 << 20)
	clock.Add(int64(diskRecheck))
	if _, err := s.Ingest(ctx, newEvent("h", "c")); !errors.Is(err, ErrLowDisk) {
		t.Fatalf("Ingest with min_free on again = %v; want ErrLowDisk", err)
	}
	if n := strings.Count(logged.String(), "below min_free"); n != 2 {
		t.Errorf("%d below-min_free lines for two episodes; want 2:\n%s", n, logged.String())
	}
}

// TestStore_FileGone: the database file removed, or replaced (a restore
// done without stopping webhookd), under the store: within a look at the
// disk, ingest refuses (ErrFileGone) rather than acknowledge events that
// go to a file no start opens again, and says so in the log once.
func TestStore_FileGone(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
			now := func() time.Time { return time.Unix(0, clock.Load()) }
			logged := &lockedBuffer{}
			dir := t.TempDir()
			path := filepath.Join(dir, "s.db")
			s, err := Open(path, Options{Now: now, Logger: slog.New(slog.NewTextHandler(logged, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Ingest(ctx, newEvent("h", "before")); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "removed":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case "replaced":
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				tmp := filepath.Join(dir, "copy.db")
				if err := os.WriteFile(tmp, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(int64(diskRecheck))
			for i := range 2 {
				if _, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("after", i))); !errors.Is(err, ErrFileGone) {
					t.Errorf("Ingest with the file %s = %v; want ErrFileGone", how, err)
				}
			}
			if n := strings.Count(logged.String(), "no longer at its path"); n != 1 {
				t.Errorf("%d log lines about the file; want 1:\n%s", n, logged.String())
			}
		})
	}
}

// TestStore_MinFreeLookAgainDuringALook: a prune that frees room while
// the guard is in the middle of a look that began before it (its figures
// read, not yet kept) has the guard look again after that look, rather
// than keep the look's figures, which predate the prune, and refuse
// deliveries until the next look is due. The request to look again was
// lost: the look, ending, wrote its time over it.
func TestStore_MinFreeLookAgainDuringALook(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s, _ := openTest(t, Options{Now: now, MinFree: 64 << 20, FreeSpace: disk.FreeSpace})
	ctx := context.Background()
	old := newEvent("h", "old", NewJob{Action: "a", Skip: "when is false"}) // finished: retention deletes it
	old.Received = now()
	if _, err := s.Ingest(ctx, old); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(1 << 20)
	clock.Add(int64(diskRecheck))
	if err := s.Refusing(); !errors.Is(err, ErrLowDisk) {
		t.Fatalf("Refusing with 1 MiB free, min_free 64 MiB = %v; want ErrLowDisk", err)
	}

	// The next look blocks once it has read its figures (the room inside
	// the file is the last), until the test lets it go on.
	entered, release := make(chan struct{}), make(chan struct{})
	spareIn := s.disk.spareIn
	var blocked atomic.Bool
	s.disk.spareIn = func() int64 {
		n := spareIn()
		if !blocked.Swap(true) {
			close(entered)
			<-release
		}
		return n
	}
	clock.Add(int64(diskRecheck))
	looking := make(chan error, 1)
	go func() { looking <- s.Refusing() }()
	<-entered
	// Meanwhile retention frees room (here the fake's figure rises) and
	// asks for another look.
	disk.free.Store(1 << 30)
	if n, err := s.Prune(ctx, now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want the old event deleted", n, err)
	}
	close(release)
	if err := <-looking; !errors.Is(err, ErrLowDisk) {
		t.Errorf("the look begun before the prune = %v; want its figures (ErrLowDisk)", err)
	}
	calls := disk.calls.Load()
	// The clock has not moved: only the prune's request makes this look.
	if err := s.Refusing(); err != nil {
		t.Errorf("Refusing after a prune asked for a look during one = %v; want the room seen", err)
	}
	if got := disk.calls.Load(); got != calls+1 {
		t.Errorf("free space asked %d times after the look; want once more", got-calls)
	}
	if _, err := s.Ingest(ctx, newEvent("h", "new")); err != nil {
		t.Errorf("Ingest after the prune: %v; want accepted", err)
	}
}

// TestStore_MinFreeCountsWritesDuringALook: bytes let in while a look at
// the disk is under way (by the last look's figures) are not in the
// figures that look reads, so they stay counted after it.
func TestStore_MinFreeCountsWritesDuringALook(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	const min = 1 << 20
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	free := func(string) (int64, error) {
		if calls.Add(1) == 2 {
			close(entered)
			<-release
		}
		return min + 100<<10, nil // 100 KiB above the line, at every look
	}
	s, _ := openTest(t, Options{Now: now, MinFree: min, FreeSpace: free})
	clock.Add(int64(diskRecheck))
	looking := make(chan error, 1)
	go func() { looking <- s.disk.check(0) }()
	<-entered
	// Let in by the last look's figures while the new look reads its own,
	// which do not hold these bytes yet.
	if err := s.disk.check(90 << 10); err != nil {
		t.Fatalf("90 KiB during a look, 100 KiB above min_free: %v; want let in", err)
	}
	close(release)
	if err := <-looking; err != nil {
		t.Fatalf("the look: %v", err)
	}
	if err := s.disk.check(30 << 10); !errors.Is(err, ErrLowDisk) {
		t.Errorf("30 KiB more after the look, 10 KiB of room left = %v; want ErrLowDisk", err)
	}
	if err := s.disk.check(5 << 10); err != nil {
		t.Errorf("5 KiB more after the look: %v; want let in", err)
	}
}
