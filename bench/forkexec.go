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
	"time"
)

// ForkExecResult is the bare cost of running a command n times.
type ForkExecResult struct {
	N         int     `json:"n"`
	Parallel  int     `json:"parallel"`
	ElapsedMS float64 `json:"elapsed_ms"`
	PerJobUS  float64 `json:"per_job_us"`
	PerSec    float64 `json:"per_sec"`
}

// runForkExec runs a command n times from p goroutines with nothing around
// it (os/exec, stdin and stdout /dev/null): the floor that the scheduler's
// per-job overhead is measured against.
func runForkExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forkexec", flag.ContinueOnError)
	n := fs.Int("n", 10000, "runs")
	p := fs.Int("p", 1, "runs at once")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 || *n < 1 || *p < 1 {
		return &usageError{"forkexec [-n N] [-p P] COMMAND [ARG...]"}
	}
	res, err := forkExec(ctx, *n, *p, argv)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "forkexec: %d runs at parallelism %d in %.0f ms: %.0f/s, %.0f µs each\n",
		res.N, res.Parallel, res.ElapsedMS, res.PerSec, res.PerJobUS)
	return nil
}

// forkExec runs argv n times from p goroutines and times it.
func forkExec(ctx context.Context, n, p int, argv []string) (*ForkExecResult, error) {
	var next, failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d runs failed (first: %v)", f, n, first.Load())
	}
	return &ForkExecResult{N: n, Parallel: p, ElapsedMS: float64(elapsed.Microseconds()) / 1e3,
		PerJobUS: float64(elapsed.Microseconds()) / float64(n), PerSec: float64(n) / elapsed.Seconds()}, nil
}
