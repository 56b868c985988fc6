package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

// daemon is a webhookd started by the bench tool.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time
	addr    string // public listener
	admin   string // admin listener
	ready   chan struct{}
	exited  chan struct{}
	err     error
}

var (
	reListen = regexp.MustCompile(`msg=listening addr=(\S+)`)
	reAdmin  = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// startDaemon starts bin serve -config cfg, copying its log to logw. ready
// is closed once both listeners have logged their addresses.
func startDaemon(bin, cfg string, env []string, logw io.Writer) (*daemon, error) {
	return startServer([]string{bin, "serve", "-config", cfg}, env, logw, true)
}

// startServer starts argv, a server that logs "msg=listening addr=..."
// (and, with admin, "msg=\"admin listening\" addr=...") on stderr.
func startServer(argv, env []string, logw io.Writer, admin bool) (*daemon, error) {
	d := &daemon{ready: make(chan struct{}), exited: make(chan struct{})}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout = logw
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logw, line)
			if signalled {
				continue
			}
			if m := reListen.FindStringSubmatch(line); m != nil {
				d.addr = m[1]
			}
			if m := reAdmin.FindStringSubmatch(line); m != nil {
				d.admin = m[1]
			}
			if d.addr != "" && (d.admin != "" || !admin) {
				signalled = true
				close(d.ready)
			}
		}
	}()
	go func() {
		<-lines
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// waitHealthy waits for the listeners and then for /healthz to answer 200,
// polling every millisecond, and returns the time since the start.
func (d *daemon) waitHealthy(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case <-d.ready:
	case <-d.exited:
		return 0, fmt.Errorf("webhookd exited at start: %v", d.err)
	case <-deadline.C:
		return 0, fmt.Errorf("webhookd did not log its listeners within %s", timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if _, err := parseTarget("http://" + d.admin + "/"); err != nil {
		return 0, err
	}
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + d.admin + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(d.started), nil
			}
		}
		select {
		case <-time.After(time.Millisecond):
		case <-d.exited:
			return 0, fmt.Errorf("webhookd exited at start: %v", d.err)
		case <-deadline.C:
			return 0, fmt.Errorf("webhookd /healthz did not answer 200 within %s", timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after timeout).
func (d *daemon) stop(timeout time.Duration) error {
	select {
	case <-d.exited:
		return d.err
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(timeout):
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
		return fmt.Errorf("webhookd did not stop within %s; killed", timeout)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// StartupResult is a config's start-up time and idle memory, medians over
// rounds.
type StartupResult struct {
	Config     string    `json:"config"`
	StartMS    float64   `json:"start_ms"`
	RSSAnonKB  float64   `json:"rss_anon_kb"`
	StartAll   []float64 `json:"start_ms_all"`
	RSSAnonAll []float64 `json:"rss_anon_kb_all"`
}

// runStartup starts webhookd on each config in turn, rounds times,
// alternating, and reports the median time until /healthz answered and
// the median RssAnon after it settled.
func runStartup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	bin := fs.String("bin", "", "webhookd binary")
	var cfgs stringList
	fs.Var(&cfgs, "config", "webhookd config (repeat to compare, alternating)")
	rounds := fs.Int("rounds", 5, "starts per config")
	settle := fs.Duration("settle", 2*time.Second, "wait after /healthz before reading RssAnon")
	logPath := fs.String("log", os.DevNull, "append the daemons' logs to this file")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *bin == "" || len(cfgs) == 0 || *rounds < 1 {
		return &usageError{"startup: -bin and -config are required"}
	}
	logw, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logw.Close()
	results := make([]*StartupResult, len(cfgs))
	for i, c := range cfgs {
		results[i] = &StartupResult{Config: c}
	}
	for r := 0; r < *rounds; r++ {
		for i, c := range cfgs {
			took, kb, err := startOnce(ctx, *bin, c, *settle, logw)
			if err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
			res := results[i]
			res.StartAll = append(res.StartAll, float64(took.Microseconds())/1e3)
			res.RSSAnonAll = append(res.RSSAnonAll, float64(kb))
			fmt.Fprintf(stderr, "startup %s: %.1f ms, RssAnon %d KiB\n", c, float64(took.Microseconds())/1e3, kb)
		}
	}
	for _, res := range results {
		res.StartMS = median(res.StartAll)
		res.RSSAnonKB = median(res.RSSAnonAll)
	}
	if *asJSON {
		b, _ := json.Marshal(results)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	for _, res := range results {
		fmt.Fprintf(stdout, "%s: start %.1f ms, RssAnon %.0f KiB (medians of %d)\n", res.Config, res.StartMS, res.RSSAnonKB, *rounds)
	}
	return nil
}

// SchedResult is webhookd running a prefilled store's jobs.
type SchedResult struct {
	Jobs      int     `json:"jobs"`
	StartMS   float64 `json:"start_ms"`   // until /healthz answered
	ElapsedMS float64 `json:"elapsed_ms"` // from the process start to the last job succeeded
	PerJobUS  float64 `json:"per_job_us"`
	PerSec    float64 `json:"per_sec"`
	// CPU per job of the daemon itself and of the commands it ran (the
	// children it waited for), from /proc at the end: on a shared machine
	// the cost, where elapsed time is also the neighbours' load. The
	// daemon's includes its start and the /metrics scrapes of this run.
	CPUUS      float64 `json:"cpu_us,omitempty"`
	ChildCPUUS float64 `json:"child_cpu_us,omitempty"`
	// The store's commits over the whole run (its start included), from
	// /metrics at the end: how many, their mean time, and the share of
	// the elapsed time the commit loop spent committing.
	Commits    int     `json:"commits,omitempty"`
	CommitMS   float64 `json:"commit_ms,omitempty"`
	CommitBusy float64 `json:"commit_busy,omitempty"`
	// RunMS is the median run, from its start to its end as the store
	// recorded them: set beside CommitMS, it says whether a finish waits
	// for the commit loop or the loop for the run.
	RunMS float64 `json:"run_ms,omitempty"`
}

// runSched times webhookd running a prefilled store's jobs (see schedRun).
func runSched(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sched", flag.ContinueOnError)
	bin := fs.String("bin", "", "webhookd binary")
	cfgPath := fs.String("config", "", "webhookd config whose [store] path receives the template")
	tmplDB := fs.String("db", "", "prefilled store (see fill) copied to the config's store path first")
	jobs := fs.Int("jobs", 10000, "jobs in the prefilled store")
	logPath := fs.String("log", os.DevNull, "append the daemon's log to this file")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *bin == "" || *cfgPath == "" || *tmplDB == "" {
		return &usageError{"sched: -bin, -config and -db are required"}
	}
	logw, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logw.Close()
	res, err := schedRun(ctx, *bin, *cfgPath, *tmplDB, *jobs, logw)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "sched: %d jobs in %.0f ms after a %.1f ms start: %.0f jobs/s, %.0f µs per job; CPU per job %.0f µs in webhookd, %.0f µs in the commands\n",
		res.Jobs, res.ElapsedMS, res.StartMS, res.PerSec, res.PerJobUS, res.CPUUS, res.ChildCPUUS)
	if res.Commits > 0 {
		fmt.Fprintf(stdout, "sched: %d store commits (%.2f jobs per commit) of %.2f ms each; the commit loop committed %.0f%% of the time; a run took %.2f ms (median)\n",
			res.Commits, float64(res.Jobs)/float64(res.Commits), res.CommitMS, 100*res.CommitBusy, res.RunMS)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// schedRun copies tmplDB to the config's store path, starts webhookd and
// times it from the process start until every job has succeeded (read from
// /metrics every 100 ms, and every 2 ms for the last hundred jobs).
func schedRun(ctx context.Context, bin, cfgPath, tmplDB string, jobs int, logw io.Writer) (*SchedResult, error) {
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if err := copyFile(tmplDB, cfg.Store.Path); err != nil {
		return nil, err
	}
	d, err := startDaemon(bin, cfgPath, nil, logw)
	if err != nil {
		return nil, err
	}
	defer d.stop(60 * time.Second)
	took, err := d.waitHealthy(ctx, 60*time.Second)
	if err != nil {
		return nil, err
	}
	url := "http://" + d.admin + "/metrics"
	var m metricsSnapshot
	for {
		m, err = readMetrics(url)
		if err != nil {
			return nil, err
		}
		if int(m.succeeded) >= jobs && m.pending == 0 && m.running == 0 {
			break
		}
		// Scraping costs the daemon CPU: look rarely until the end is near.
		every := 100 * time.Millisecond
		if jobs-int(m.succeeded) < 100 {
			every = 2 * time.Millisecond
		}
		select {
		case <-time.After(every):
		case <-d.exited:
			return nil, fmt.Errorf("webhookd exited: %v", d.err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	elapsed := time.Since(d.started)
	self, children, err := cpuTimes(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	if err := d.stop(60 * time.Second); err != nil {
		return nil, err
	}
	res := &SchedResult{Jobs: jobs, StartMS: float64(took.Microseconds()) / 1e3, ElapsedMS: float64(elapsed.Microseconds()) / 1e3,
		CPUUS: float64(self.Microseconds()) / float64(jobs), ChildCPUUS: float64(children.Microseconds()) / float64(jobs)}
	res.PerJobUS = float64(elapsed.Microseconds()) / float64(jobs)
	res.PerSec = float64(jobs) / elapsed.Seconds()
	if m.storeCommits > 0 {
		res.Commits = int(m.storeCommits)
		res.CommitMS = 1e3 * m.commitSeconds / m.storeCommits
		res.CommitBusy = m.commitSeconds / elapsed.Seconds()
	}
	if res.RunMS, err = medianRun(cfg.Store.Path); err != nil {
		return nil, err
	}
	return res, nil
}

// medianRun reads the runs of the succeeded jobs in the store at path
// (closed) and returns the median of their durations, in milliseconds.
func medianRun(path string) (float64, error) {
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var ms []float64
	for after := ""; ; {
		jobs, next, err := st.ListJobs(store.Succeeded, after, 1000)
		if err != nil {
			return 0, err
		}
		for _, j := range jobs {
			runs, err := st.Runs(j.ID)
			if err != nil {
				return 0, err
			}
			for _, r := range runs {
				ms = append(ms, float64(r.Duration().Microseconds())/1e3)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	return median(ms), nil
}
