package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ForkExecResult is the bare cost of running a command n times.
type ForkExecResult struct {
	N         int     `json:"n"`
	Parallel  int     `json:"parallel"`
	Durable   bool    `json:"durable,omitempty"` // each run recorded and fsynced before the next
	ElapsedMS float64 `json:"elapsed_ms"`
	PerJobUS  float64 `json:"per_job_us"`
	PerSec    float64 `json:"per_sec"`
	// CPU per run of this process (the loop, and with -db the writer) and
	// of the commands it ran, from getrusage: see SchedResult.
	CPUUS      float64 `json:"cpu_us,omitempty"`
	ChildCPUUS float64 `json:"child_cpu_us,omitempty"`
}

// runForkExec runs a command n times from p goroutines with nothing around
// it (os/exec, stdin and stdout /dev/null): the floor that the scheduler's
// per-job overhead is measured against. With -db, each run's result is
// written to a bbolt file by a single group-commit writer, and the goroutine
// waits for that commit before its next run: the least a durable record of
// every run costs (a naive durable scheduler).
func runForkExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forkexec", flag.ContinueOnError)
	n := fs.Int("n", 10000, "runs")
	p := fs.Int("p", 1, "runs at once")
	dbPath := fs.String("db", "", "record each run in this bbolt file (created) before the next")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 || *n < 1 || *p < 1 {
		return &usageError{"forkexec [-n N] [-p P] [-db FILE] COMMAND [ARG...]"}
	}
	res, err := forkExec(ctx, *n, *p, argv, *dbPath)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	durable := ""
	if res.Durable {
		durable = ", each recorded durably"
	}
	fmt.Fprintf(stdout, "forkexec: %d runs at parallelism %d%s in %.0f ms: %.0f/s, %.0f µs each; CPU per run %.0f µs here, %.0f µs in the command\n",
		res.N, res.Parallel, durable, res.ElapsedMS, res.PerSec, res.PerJobUS, res.CPUUS, res.ChildCPUUS)
	return nil
}

// runRecord is what the durable variant writes for each run.
type runRecord struct {
	Run      int64     `json:"run"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	ExitCode int       `json:"exit_code"`
}

// forkExec runs argv n times from p goroutines and times it. With dbPath,
// each run's record is committed to that bbolt file (created) before the
// goroutine's next run.
func forkExec(ctx context.Context, n, p int, argv []string, dbPath string) (*ForkExecResult, error) {
	var w *naiveWriter
	if dbPath != "" {
		var err error
		if w, err = openNaiveWriter(dbPath); err != nil {
			return nil, err
		}
		defer w.Close()
	}
	var next, failed atomic.Int64
	var first atomic.Value
	fail := func(err error) {
		failed.Add(1)
		first.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	self0, child0 := rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
	start := time.Now()
	for range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				rec := runRecord{Run: i, Started: time.Now()}
				cmd := exec.Command(argv[0], argv[1:]...)
				if err := cmd.Run(); err != nil {
					fail(err)
				}
				if w == nil {
					continue
				}
				rec.Finished = time.Now()
				rec.ExitCode = cmd.ProcessState.ExitCode()
				b, _ := json.Marshal(rec)
				if err := w.put(b); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	self, child := rusage(syscall.RUSAGE_SELF)-self0, rusage(syscall.RUSAGE_CHILDREN)-child0
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d runs failed (first: %v)", f, n, first.Load())
	}
	return &ForkExecResult{N: n, Parallel: p, Durable: w != nil, ElapsedMS: float64(elapsed.Microseconds()) / 1e3,
		PerJobUS: float64(elapsed.Microseconds()) / float64(n), PerSec: float64(n) / elapsed.Seconds(),
		CPUUS: float64(self.Microseconds()) / float64(n), ChildCPUUS: float64(child.Microseconds()) / float64(n)}, nil
}

// rusage is the user+system CPU time getrusage reports for who.
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
