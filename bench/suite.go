package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// suiteConfig is one run of the whole benchmark.
type suiteConfig struct {
	bin      string // webhookd binary
	self     string // this program, for its servers
	work     string // scratch directory (on the disk being measured)
	rounds   int
	dur      time.Duration
	warmup   time.Duration
	size     int
	backlog  int // pending jobs for the start-up comparison (0 skips it)
	schedN   int // jobs for the scheduler overhead comparison (0 skips it)
	schedP   []int
	logw     io.Writer
	progress io.Writer
}

// benchSecret is the secret of the benchmark's hook.
const benchSecret = "bench-secret-0123456789"

// benchConfig is the webhookd config the benchmark runs: one GitHub hook
// whose action's when is false for the benchmark's pushes, so that every
// event is stored with one job (recorded as skipped, with the reason) and
// no process is forked while ingest is measured.
const benchConfig = `[server]
listen = "127.0.0.1:0"
shutdown_timeout = "10s"

[store]
path = "webhookd.db"

[admin]
listen = "127.0.0.1:0"

[log]
format = "text"
level = "info"

[[hook]]
id = "bench"
provider = "github"
secret = "` + benchSecret + `"
events = ["push"]

  [[hook.action]]
  name = "deploy"
  when = 'event == "push" && payload.ref == "refs/heads/release"'
  run = ["/bin/true"]
`

// jobsConfig runs every job of hook "bench", action "run": the script, at
// the given concurrency.
func jobsConfig(script string, concurrency int) string {
	return jobsConfigArgv([]string{script}, concurrency, "30s")
}

// jobsConfigArgv is jobsConfig with an argv and a shutdown timeout.
func jobsConfigArgv(argv []string, concurrency int, shutdown string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
shutdown_timeout = %q

[store]
path = "webhookd.db"

[admin]
listen = "127.0.0.1:0"

[log]
format = "text"
level = "info"

[[hook]]
id = "bench"
provider = "github"
secret = %q

  [[hook.action]]
  name = "run"
  run = [%s]
  concurrency = %d
`, shutdown, benchSecret, strings.Join(quoted, ", "), concurrency)
}

// Measurement is one measured run, as the suite records it.
type Measurement struct {
	Name   string          `json:"name"`
	Round  int             `json:"round"`
	Load   *Result         `json:"load,omitempty"`
	Fsync  *FsyncResult    `json:"fsync,omitempty"`
	Start  *StartupResult  `json:"start,omitempty"`
	Sched  *SchedResult    `json:"sched,omitempty"`
	Fork   *ForkExecResult `json:"fork,omitempty"`
	Err    string          `json:"error,omitempty"`
	Server string          `json:"server,omitempty"`
}

// loadCase is a server kind and the load it gets.
type loadCase struct {
	name   string
	server string // bare, webhookd, group, nogroup
	env    []string
	conns  int
	rate   float64
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	bin := fs.String("webhookd", "", "webhookd binary")
	work := fs.String("work", "", "scratch directory on the disk to measure (default: a new one under $TMPDIR)")
	rounds := fs.Int("rounds", 3, "rounds: each measurement runs once per round, alternating with the others")
	dur := fs.Duration("d", 5*time.Second, "measured duration of each load run")
	warmup := fs.Duration("warmup", time.Second, "warm-up before each load run")
	size := fs.Int("size", 2048, "body size")
	backlog := fs.Int("backlog", 1_000_000, "pending jobs for the start-up comparison (0 skips it)")
	schedN := fs.Int("sched-jobs", 10_000, "jobs for the scheduler overhead comparison (0 skips it)")
	schedP := fs.String("sched-parallel", "1,4", "parallelism of the scheduler comparison (comma-separated)")
	out := fs.String("out", "", "write the results (JSON lines) here as well")
	doc := fs.String("doc", "", "update this markdown file's generated section (docs/benchmarks.md)")
	cmdline := fs.String("cmdline", "bench/run.sh", "the command line to quote in the document")
	logPath := fs.String("log", "", "append server logs here (default: in the work directory)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *bin == "" {
		return &usageError{"suite: -webhookd is required"}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := suiteConfig{bin: *bin, self: self, rounds: *rounds, dur: *dur, warmup: *warmup, size: *size,
		backlog: *backlog, schedN: *schedN, progress: stderr}
	for _, p := range strings.Split(*schedP, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return &usageError{"-sched-parallel: bad value " + p}
		}
		cfg.schedP = append(cfg.schedP, n)
	}
	cfg.work = *work
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp("", "webhookd-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.work)
	}
	lp := *logPath
	if lp == "" {
		lp = filepath.Join(cfg.work, "servers.log")
	}
	logf, err := os.OpenFile(lp, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cfg.logw = logf

	var results []Measurement
	record := func(m Measurement) {
		results = append(results, m)
		line, _ := json.Marshal(m)
		fmt.Fprintln(stdout, string(line))
	}
	machine := describeMachine(cfg.work)
	started := time.Now()
	if err := suiteLoad(ctx, cfg, record); err != nil {
		return err
	}
	if cfg.schedN > 0 {
		if err := suiteSched(ctx, cfg, record); err != nil {
			return err
		}
	}
	if cfg.backlog > 0 {
		if err := suiteStartup(ctx, cfg, record); err != nil {
			return err
		}
	}
	machine.finish(time.Since(started))
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		for _, m := range results {
			line, _ := json.Marshal(m)
			fmt.Fprintln(f, string(line))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *doc != "" {
		rep := buildReport(results, machine, cfg, *cmdline)
		if err := writeReport(*doc, rep); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "suite: wrote %s\n", *doc)
	}
	return nil
}

// suiteLoad runs the HTTP measurements, alternating: each round runs every
// case once, the order reversed on odd rounds, each on a fresh server with
// a fresh database.
func suiteLoad(ctx context.Context, cfg suiteConfig, record func(Measurement)) error {
	cases := []loadCase{
		{name: "bare/c=16", server: "bare", conns: 16},
		{name: "webhookd/c=16", server: "webhookd", conns: 16},
		{name: "nogroup/c=16", server: "nogroup", conns: 16},
		{name: "group/c=16", server: "group", conns: 16},
		{name: "bare/c=64", server: "bare", conns: 64},
		{name: "naive/c=64", server: "naive", conns: 64},
		{name: "webhookd/c=64", server: "webhookd", conns: 64},
		{name: "nogroup/c=64", server: "nogroup", conns: 64},
		{name: "group/c=64", server: "group", conns: 64},
		{name: "webhookd/open=5000", server: "webhookd", conns: 64, rate: 5000},
		{name: "webhookd/gomaxprocs=1/c=256", server: "webhookd", env: []string{"GOMAXPROCS=1"}, conns: 256},
	}
	for r := 0; r < cfg.rounds; r++ {
		m := Measurement{Name: "fsync", Round: r}
		res, err := measureFsync(ctx, cfg.work, 3*time.Second)
		if err != nil {
			return err
		}
		m.Fsync = res
		record(m)
		order := make([]loadCase, len(cases))
		copy(order, cases)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, c := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(cfg.progress, "suite: round %d: %s\n", r+1, c.name)
			m, err := runLoadCase(ctx, cfg, c, r)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			record(m)
		}
	}
	return nil
}

func runLoadCase(ctx context.Context, cfg suiteConfig, c loadCase, round int) (Measurement, error) {
	m := Measurement{Name: c.name, Round: round, Server: c.server}
	dir, err := os.MkdirTemp(cfg.work, "run-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "webhookd.toml")
	if err := os.WriteFile(cfgPath, []byte(benchConfig), 0o600); err != nil {
		return m, err
	}
	var argv []string
	admin := false
	switch c.server {
	case "bare":
		argv = []string{cfg.self, "bare"}
	case "naive":
		argv = []string{cfg.self, "naive", "-db", filepath.Join(dir, "naive.db"), "-secret", benchSecret}
	case "group":
		argv = []string{cfg.self, "serve", "-config", cfgPath}
	case "nogroup":
		argv = []string{cfg.self, "serve", "-config", cfgPath, "-no-group-commit"}
	case "webhookd":
		argv = []string{cfg.bin, "serve", "-config", cfgPath}
		admin = true
	default:
		return m, fmt.Errorf("unknown server %q", c.server)
	}
	fmt.Fprintf(cfg.logw, "=== %s round %d: %s\n", c.name, round+1, strings.Join(argv, " "))
	d, err := startServer(argv, c.env, cfg.logw, admin)
	if err != nil {
		return m, err
	}
	defer d.stop(30 * time.Second)
	if err := d.waitReady(ctx, 30*time.Second); err != nil {
		return m, err
	}
	t, err := parseTarget("http://" + d.addr + "/hooks/bench")
	if err != nil {
		return m, err
	}
	lc := loadConfig{target: t, secret: benchSecret, event: "push", size: cfg.size, conns: c.conns,
		dur: cfg.dur, warmup: cfg.warmup, rate: c.rate, expect: map[int]bool{202: true}, timeout: 30 * time.Second,
		pid: d.cmd.Process.Pid}
	if c.server == "bare" {
		lc.expect = map[int]bool{200: true}
	}
	if admin {
		lc.metrics = "http://" + d.admin + "/metrics"
	}
	res, err := load(ctx, lc)
	if err != nil {
		return m, err
	}
	res.Label = c.name
	m.Load = res
	if res.Errors > 0 {
		m.Err = fmt.Sprintf("%d requests failed (first: %s)", res.Errors, res.FirstErr)
	}
	if err := d.stop(30 * time.Second); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return m, err
		}
		m.Err = strings.TrimSpace(m.Err + "; server exit: " + err.Error())
	}
	return m, nil
}

// waitReady waits until the server has logged its listeners.
func (d *daemon) waitReady(ctx context.Context, timeout time.Duration) error {
	select {
	case <-d.ready:
		return nil
	case <-d.exited:
		return fmt.Errorf("server exited at start: %v", d.err)
	case <-time.After(timeout):
		return fmt.Errorf("server did not log its listeners within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// suiteSched compares webhookd running N queued jobs of a no-op script
// with a bare fork/exec loop of the same script, at the same parallelism,
// alternating.
func suiteSched(ctx context.Context, cfg suiteConfig, record func(Measurement)) error {
	script := filepath.Join(cfg.work, "noop.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		return err
	}
	for _, p := range cfg.schedP {
		dir, err := os.MkdirTemp(cfg.work, "sched-")
		if err != nil {
			return err
		}
		cfgPath := filepath.Join(dir, "webhookd.toml")
		if err := os.WriteFile(cfgPath, []byte(jobsConfig(script, p)), 0o600); err != nil {
			return err
		}
		tmplDB := filepath.Join(cfg.work, fmt.Sprintf("sched-%d.db", p))
		fmt.Fprintf(cfg.progress, "suite: filling %d jobs (concurrency %d)\n", cfg.schedN, p)
		if err := runFill(ctx, []string{"-db", tmplDB, "-n", strconv.Itoa(cfg.schedN), "-concurrency", strconv.Itoa(p), "-size", "512"}, io.Discard, cfg.progress); err != nil {
			return err
		}
		for r := 0; r < cfg.rounds; r++ {
			for i := 0; i < 3; i++ {
				// bare, naive durable, webhookd; rotated each round.
				switch (i + r) % 3 {
				case 0:
					fmt.Fprintf(cfg.progress, "suite: round %d: forkexec p=%d\n", r+1, p)
					res, err := forkExec(ctx, cfg.schedN, p, []string{script}, "")
					if err != nil {
						return err
					}
					record(Measurement{Name: fmt.Sprintf("forkexec/p=%d", p), Round: r, Fork: res})
					continue
				case 1:
					fmt.Fprintf(cfg.progress, "suite: round %d: forkexec -db p=%d\n", r+1, p)
					db := filepath.Join(dir, fmt.Sprintf("naive-%d.db", r))
					res, err := forkExec(ctx, cfg.schedN, p, []string{script}, db)
					os.Remove(db)
					if err != nil {
						return err
					}
					record(Measurement{Name: fmt.Sprintf("forkexec-durable/p=%d", p), Round: r, Fork: res})
					continue
				}
				fmt.Fprintf(cfg.progress, "suite: round %d: webhookd jobs p=%d\n", r+1, p)
				res, err := schedRun(ctx, cfg.bin, cfgPath, tmplDB, cfg.schedN, cfg.logw)
				if err != nil {
					return err
				}
				record(Measurement{Name: fmt.Sprintf("sched/p=%d", p), Round: r, Sched: res})
			}
		}
		os.RemoveAll(dir)
		os.Remove(tmplDB)
	}
	return nil
}

// suiteStartup compares webhookd's start on an empty store with its start
// on a store with cfg.backlog pending jobs, alternating.
func suiteStartup(ctx context.Context, cfg suiteConfig, record func(Measurement)) error {
	emptyDir := filepath.Join(cfg.work, "empty")
	oneDir := filepath.Join(cfg.work, "one")
	fullDir := filepath.Join(cfg.work, "backlog")
	for _, d := range []string{emptyDir, oneDir, fullDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
		// One run at a time of a command that outlasts the measurement:
		// on the backlog the daemon reads its due index, starts the first
		// job and holds the rest (SIGTERM interrupts the run after 1 s and
		// it goes back to the queue), so what the two stores are compared
		// on is the start and the memory of the same work.
		if err := os.WriteFile(filepath.Join(d, "webhookd.toml"), []byte(jobsConfigArgv([]string{"/bin/sleep", "600"}, 1, "1s")), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(cfg.progress, "suite: filling %d pending jobs\n", cfg.backlog)
	if err := runFill(ctx, []string{"-db", filepath.Join(fullDir, "webhookd.db"), "-n", strconv.Itoa(cfg.backlog)}, io.Discard, cfg.progress); err != nil {
		return err
	}
	// The control: one pending job, so one run as on the backlog, and no
	// backlog behind it. Made again before each of its starts: a stop
	// cuts the run off, and the fifth cut in a row leaves the job dead
	// (store.CutOffLimit), so from then on the store would start nothing.
	// (The backlog's first job goes the same way, and its next one runs.)
	oneJob := func() error {
		db := filepath.Join(oneDir, "webhookd.db")
		if err := os.Remove(db); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return runFill(ctx, []string{"-db", db, "-n", "1"}, io.Discard, io.Discard)
	}
	if err := oneJob(); err != nil {
		return err
	}
	rounds := max(5*cfg.rounds, 15)
	cfgs := []string{filepath.Join(emptyDir, "webhookd.toml"), filepath.Join(oneDir, "webhookd.toml"), filepath.Join(fullDir, "webhookd.toml")}
	names := []string{"startup/empty", "startup/one-job", fmt.Sprintf("startup/backlog=%d", cfg.backlog)}
	// One start each, not measured: it creates the empty store and reads
	// the backlog's file into the page cache, as a daemon restarted on
	// its machine finds it.
	for _, c := range cfgs {
		if _, _, err := startOnce(ctx, cfg.bin, c, 0, cfg.logw); err != nil {
			return err
		}
	}
	for r := 0; r < rounds; r++ {
		for i := range cfgs {
			fmt.Fprintf(cfg.progress, "suite: round %d: %s\n", r+1, names[i])
			if i == 1 { // the one-job store
				if err := oneJob(); err != nil {
					return err
				}
			}
			took, kb, err := startOnce(ctx, cfg.bin, cfgs[i], 2*time.Second, cfg.logw)
			if err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			record(Measurement{Name: names[i], Round: r, Start: &StartupResult{Config: cfgs[i],
				StartMS: float64(took.Microseconds()) / 1e3, RSSAnonKB: float64(kb)}})
		}
	}
	return nil
}

// startOnce starts webhookd, times it until /healthz answers, waits settle,
// reads its RssAnon and stops it.
func startOnce(ctx context.Context, bin, cfgPath string, settle time.Duration, logw io.Writer) (time.Duration, int, error) {
	d, err := startDaemon(bin, cfgPath, nil, logw)
	if err != nil {
		return 0, 0, err
	}
	took, err := d.waitHealthy(ctx, 60*time.Second)
	if err != nil {
		d.stop(5 * time.Second)
		return 0, 0, err
	}
	wait(ctx, settle)
	kb, err := rssAnonKB(d.cmd.Process.Pid)
	if serr := d.stop(60 * time.Second); serr != nil {
		return 0, 0, fmt.Errorf("stop: %w", serr)
	}
	return took, kb, err
}
