package actions

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// noopScript writes a shell script that does nothing, the command the
// dispatch benchmarks run.
func noopScript(b *testing.B) string {
	p := filepath.Join(b.TempDir(), "noop.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	return p
}

// queueJobs stores n events of hook "bench", each with one pending job of
// action "run" (one queue, the given concurrency).
func queueJobs(b *testing.B, st *store.Store, n, concurrency int) {
	body := []byte(`{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				_, err := st.Ingest(context.Background(), &store.NewEvent{
					Hook: "bench", Type: "push", Delivery: fmt.Sprint("d-", i), ContentType: "application/json",
					Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
					Jobs: []store.NewJob{{Action: "run", Concurrency: concurrency}},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDispatch measures the scheduler running queued jobs to the end
// (start, run, record the run, refill the window), per job: an exec action
// running a no-op shell script, and an HTTP action posting to a loopback
// server (the scheduler and store without a fork). Compare exec with
// BenchmarkForkExec at the same parallelism for the scheduler's overhead.
func BenchmarkDispatch(b *testing.B) {
	for _, kind := range []string{"exec", "http"} {
		for _, conc := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", kind, conc), func(b *testing.B) {
				benchDispatch(b, kind, conc)
			})
		}
	}
}

func benchDispatch(b *testing.B, kind string, conc int) {
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := &Action{Hook: "bench", Name: "run", Timeout: time.Minute, Concurrency: conc}
	switch kind {
	case "exec":
		a.Run = []*tmpl.Template{mustTmpl(noopScript(b))}
	case "http":
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		a.URL = mustTmpl(srv.URL)
		a.Method = http.MethodPost
	}
	queueJobs(b, st, b.N, conc)
	// Runs are counted as they end; the store is read only after the last
	// (so that polling does not add to the cost measured).
	var ran atomic.Int64
	allRan := make(chan struct{})
	onRun := func(RunInfo) {
		if ran.Add(1) == int64(b.N) {
			close(allRan)
		}
	}
	// TempDir is left to its default, as the daemon has it: small payload
	// files on a memory file system when there is one.
	s := New(Options{Store: st, OnRun: onRun}, NewConfig([]*Action{a}))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	<-allRan
	for {
		stats, err := st.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if n := stats.Jobs[store.Succeeded]; n >= int64(b.N) {
			break
		}
		if stats.Jobs[store.Dead]+stats.Jobs[store.Failed] > 0 {
			b.Fatalf("jobs failed: %v", stats.Jobs)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	s.Close()
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/job")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
}

// BenchmarkForkExec is the floor for BenchmarkDispatch/exec: the same
// script run with os/exec and nothing else, at the same parallelism.
func BenchmarkForkExec(b *testing.B) {
	for _, p := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("parallel=%d", p), func(b *testing.B) {
			script := noopScript(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			child0, cpu0 := childCPU(), cpuTime()
			start := time.Now()
			for w := 0; w < p; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := exec.Command(script).Run(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/job")
			b.ReportMetric(float64((childCPU()-child0).Microseconds())/float64(b.N), "child-cpu-µs/job")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
		})
	}
}

// cpuTime is the process's own user and system CPU time (not its
// children's): on a machine shared with other work it measures cost where
// wall time measures contention.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time of the process's waited-for children.
func childCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGroupRecord is what a run's group record adds to a run: the
// record made once the command has started, and removed after the
// payload file, in the directory where payload files go (a memory file
// system when there is one); against writing and removing a 2 KiB
// payload file there, which every run does too.
func BenchmarkGroupRecord(b *testing.B) {
	dir := memoryDir()
	if dir == "" {
		dir = os.TempDir()
	}
	rd, err := makeRunDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.remove()
	payload := filepath.Join(rd.path, payloadPrefix+"J-1.x")
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			if err := writeGroupRecord(payload, 12345); err != nil {
				b.Fatal(err)
			}
			os.Remove(groupRecord(payload))
		}
	})
	b.Run("payload", func(b *testing.B) {
		body := make([]byte, 2048)
		for b.Loop() {
			f, err := writePayload(rd.path, rd.path, "J", 1, body)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			os.Remove(f.Name())
		}
	})
}
