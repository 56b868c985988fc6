package store

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchBody is a 2 KiB push payload.
var benchBody = func() []byte {
	b := []byte(`{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"full_name":"webhookd/bench"},"pad":"`)
	for len(b) < 2048-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}()

// benchEvent is a GitHub push as the listener hands it to the store: its
// headers, a 2 KiB body, a random delivery GUID (as GitHub's are, so
// de-duplication keys land all over their index) and one job, skipped
// because its when was false.
func benchEvent(rnd *rand.Rand) *NewEvent {
	delivery := fmt.Sprintf("%08x-%04x-11f0-%04x-%012x", rnd.Uint32(), rnd.Uint32()&0xffff, rnd.Uint32()&0xffff, rnd.Uint64()&0xffffffffffff)
	return &NewEvent{
		Hook: "bench", Type: "push", Delivery: delivery, Received: time.Now(), Remote: "127.0.0.1",
		ContentType: "application/json",
		Header: http.Header{
			"Accept":                                 {"*/*"},
			"Content-Type":                           {"application/json"},
			"User-Agent":                             {"GitHub-Hookshot/6a2f3b1"},
			"X-Github-Delivery":                      {delivery},
			"X-Github-Event":                         {"push"},
			"X-Github-Hook-Id":                       {"123456789"},
			"X-Github-Hook-Installation-Target-Id":   {"987654321"},
			"X-Github-Hook-Installation-Target-Type": {"repository"},
			"X-Hub-Signature-256":                    {"sha256=7d38cdd689735b008b3c702edd92eea23791c5f6f2ae7e1c7c2e5e0f2bd07b68"},
		},
		Body: benchBody,
		Jobs: []NewJob{{Action: "deploy", Concurrency: 1, Skip: `when is false: payload.ref is "refs/heads/main"`}},
	}
}

// commitStats counts the commits the store reports while a benchmark runs.
type commitStats struct {
	commits, events int
	dur             time.Duration
}

func watchCommits(s *Store) (stop func() commitStats) {
	var cs commitStats
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case c := <-s.Commits():
				if c.Events > 0 {
					cs.commits++
					cs.events += c.Events
					cs.dur += c.Duration
				}
			case <-quit:
				return
			}
		}
	}()
	return func() commitStats {
		close(quit)
		<-done
		return cs
	}
}

// BenchmarkIngest measures ingest (an event with its job and dedup entry
// in one fsynced transaction) with 1 to 256 concurrent writers: the
// store's group-commit loop ("group"), one commit per event
// (NoGroupCommit, "nogroup"), and the same operation through bbolt's
// db.Batch with its defaults ("batch": up to 1000 calls, 10 ms delay).
// It reports events/s, events per commit, the time of one commit, pages
// written per commit and the per-event latency percentiles.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"group", "nogroup", "batch"} {
		for _, w := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, w), func(b *testing.B) {
				benchIngest(b, mode, w)
			})
		}
	}
}

func benchIngest(b *testing.B, mode string, writers int) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoGroupCommit: mode == "nogroup"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ingest := func(ne *NewEvent) error {
		_, err := s.Ingest(context.Background(), ne)
		return err
	}
	var batchTxs sync.Map // tx id → struct{}: the commits db.Batch made
	if mode == "batch" {
		ingest = func(ne *NewEvent) error {
			o, _, err := s.ingestOp(ne)
			if err != nil {
				return err
			}
			return s.db.Batch(func(tx *bolt.Tx) error {
				batchTxs.Store(tx.ID(), struct{}{})
				return o.fn(tx)
			})
		}
	}
	stop := watchCommits(s)
	var next atomic.Int64
	lats := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	var failed atomic.Value
	// The commits that opened the store are not measured.
	tx0 := s.db.Stats().TxStats
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(b.N)))
			for next.Add(1) <= int64(b.N) {
				ne := benchEvent(rnd)
				t0 := time.Now()
				if err := ingest(ne); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	cs := stop()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	if mode == "batch" {
		batchTxs.Range(func(any, any) bool { cs.commits++; return true })
		cs.events = b.N
		cs.dur = 0
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e3, "cpu-µs/event")
	if cs.commits > 0 {
		b.ReportMetric(float64(cs.events)/float64(cs.commits), "events/commit")
		if cs.dur > 0 {
			b.ReportMetric(float64(cs.dur.Microseconds())/float64(cs.commits)/1e3, "ms/commit")
		}
	}
	if cs.commits > 0 {
		tx1 := s.db.Stats().TxStats
		ts := tx1.Sub(&tx0)
		b.ReportMetric(float64(ts.GetSpillTime().Microseconds())/float64(cs.commits)/1e3, "spill-ms/commit")
		b.ReportMetric(float64(ts.GetWriteTime().Microseconds())/float64(cs.commits)/1e3, "write-ms/commit")
		b.ReportMetric(float64(ts.GetWrite())/float64(cs.commits), "pages/commit")
	}
	b.ReportMetric(float64(percentile(all, 50).Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(percentile(all, 99).Microseconds())/1e3, "p99-ms")
}

// percentile is the p-th percentile of sorted by nearest rank: the
// smallest value that at least p% of the values are at or below.
func percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[max(0, (len(sorted)*p+99)/100-1)]
}

// cpuTime is the process's user and system CPU time: on a machine shared
// with other work it measures cost where wall time measures contention.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFinishAndStart measures what a queue's run costs the store: a
// finish that starts the queue's next job, in one fsynced transaction, on
// a store of 30,000 queued jobs (or b.N+1, if more) in one queue of
// concurrency 1, as the scheduler does it at parallelism 1 (docs/
// benchmarks.md, "what remains"). It reports the time of one, the pages
// it writes (bbolt's TxStats) and the process's CPU time per finish.
func BenchmarkFinishAndStart(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n := max(b.N+1, 30000)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := s.Ingest(ctx, newEvent("h", fmt.Sprint("d", i), job("a"))); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	// Closed and opened again, as a daemon starts on a backlog: the
	// de-duplication entries are all in their index, and no merge of
	// them rides on the commits measured.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	due, _, err := s.Due("h", "a", time.Now(), 1)
	if err != nil || len(due) != 1 {
		b.Fatalf("Due = %v, %v; want the queue's first job", due, err)
	}
	started, err := s.Start(ctx, due[0].JobID)
	if err != nil || len(started) != 1 {
		b.Fatalf("Start = %v, %v", started, err)
	}
	j := started[0]
	code := 0
	before := s.db.Stats().TxStats
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		now := time.Now()
		out := Outcome{State: Succeeded, Concurrency: 1, Run: Run{Started: now, Finished: now, ExitCode: &code, Result: RunSucceeded}}
		_, nextJobs, err := s.FinishAndStart(ctx, j.ID, out, 1)
		if err != nil || len(nextJobs) != 1 {
			b.Fatalf("FinishAndStart = %v, %v; want the next job started", nextJobs, err)
		}
		j = nextJobs[0]
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	after := s.db.Stats().TxStats
	b.ReportMetric(float64(after.GetWrite()-before.GetWrite())/float64(b.N), "pages/commit")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkBoltCommit is what the file's layout costs a commit: a bbolt
// commit (the store's options, two fdatasyncs) that rewrites 1, 2, 4, 8
// or 16 leaves far apart in a bucket of 200,000 keys, as a transaction
// that touches that many buckets or index regions does. It reports the
// pages written per commit and the process's CPU time per commit; the
// cost of a leaf is the step between rows (docs/benchmarks.md, scheduler
// overhead).
func BenchmarkBoltCommit(b *testing.B) {
	for _, leaves := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprint("leaves=", leaves), func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const n = 200000
			name := []byte("b")
			val := make([]byte, 100)
			key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
			err = db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucket(name)
				if err != nil {
					return err
				}
				bk.FillPercent = 0.9
				for i := range n {
					if err := bk.Put(key(i), val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			before := db.Stats().TxStats
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				err := db.Update(func(tx *bolt.Tx) error {
					bk := tx.Bucket(name)
					for l := range leaves {
						val[0] = byte(i)
						if err := bk.Put(key((i*7919+l*(n/leaves))%n), val); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			cpu := cpuTime() - cpu0
			after := db.Stats().TxStats
			b.ReportMetric(float64(after.GetWrite()-before.GetWrite())/float64(b.N), "pages/commit")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/commit")
		})
	}
}

// TestPercentile: BenchmarkIngest's p50 and p99 are by nearest rank: of
// 100 latencies 1..100 ms, the 50th and the 99th, not the 51st and the
// maximum.
func TestPercentile(t *testing.T) {
	var lats []time.Duration
	for i := 1; i <= 100; i++ {
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{lats, 50, 50 * time.Millisecond},
		{lats, 99, 99 * time.Millisecond},
		{lats[:2], 50, time.Millisecond},
		{lats[:2], 99, 2 * time.Millisecond},
		{lats[:1], 50, time.Millisecond},
		{lats[:1], 99, time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %d) = %v; want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

// TestBenchIngest_TxStats: BenchmarkIngest's pages per commit are those of
// the measured commits, not of the commits that opened the store too.
func TestBenchIngest_TxStats(t *testing.T) {
	// The pages one event's commit writes to a new store.
	s, err := Open(filepath.Join(t.TempDir(), "one.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := s.db.Stats().TxStats
	if _, err := s.Ingest(context.Background(), benchEvent(rand.New(rand.NewPCG(1, 1)))); err != nil {
		t.Fatal(err)
	}
	after := s.db.Stats().TxStats
	want := float64(after.GetWrite() - before.GetWrite())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	bt := flag.Lookup("test.benchtime")
	old := bt.Value.String()
	if err := bt.Value.Set("1x"); err != nil {
		t.Fatal(err)
	}
	defer bt.Value.Set(old)
	res := testing.Benchmark(func(b *testing.B) { benchIngest(b, "nogroup", 1) })
	if res.N != 1 {
		t.Fatalf("benchmark ran %d times; want 1", res.N)
	}
	if got := res.Extra["pages/commit"]; got != want {
		t.Errorf("pages/commit of one event = %v; want %v, its commit's", got, want)
	}
}
