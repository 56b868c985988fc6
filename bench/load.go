package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadConfig is one load run.
type loadConfig struct {
	target  target
	secret  string
	event   string
	size    int
	conns   int
	dur     time.Duration
	warmup  time.Duration
	rate    float64 // > 0: open loop at this many requests per second
	random  bool    // random delivery ids (see deliveryID)
	expect  map[int]bool
	timeout time.Duration
	metrics string // admin /metrics URL to read events per commit from
	pid     int    // process whose RssAnon is sampled during the run
}

// Result is what a load run measured. Latencies are in milliseconds.
type Result struct {
	Label     string         `json:"label,omitempty"`
	Mode      string         `json:"mode"` // closed or open
	Conns     int            `json:"conns"`
	Rate      float64        `json:"rate,omitempty"`
	Size      int            `json:"size"`
	Duration  float64        `json:"duration_s"`
	Requests  int            `json:"requests"`
	RPS       float64        `json:"rps"`
	P50       float64        `json:"p50_ms"`
	P90       float64        `json:"p90_ms"`
	P99       float64        `json:"p99_ms"`
	Max       float64        `json:"max_ms"`
	Statuses  map[string]int `json:"statuses"`
	Errors    int            `json:"errors"`
	FirstErr  string         `json:"first_error,omitempty"`
	Missed    int            `json:"missed,omitempty"` // open loop: not sent or not answered in time
	Commits   float64        `json:"commits,omitempty"`
	PerCommit float64        `json:"events_per_commit,omitempty"`
	RSSMaxKB  int            `json:"rss_anon_max_kb,omitempty"`
	RSSEndKB  int            `json:"rss_anon_end_kb,omitempty"`
	// CPUPerReq is the server's CPU time (user+system, from /proc) from
	// the measured window's start until its last request was answered, per
	// answered request, in microseconds.
	CPUPerReq float64 `json:"server_cpu_us_per_req,omitempty"`
}

// idsUsage describes the -ids flag of load and fill.
const idsUsage = "delivery ids: seq (each connection's in the order sent, as GitHub's version 1 UUIDs sort over minutes) or random (version 4 UUIDs)"

// parseIDs reads an -ids flag: whether delivery ids are random.
func parseIDs(s string) (bool, error) {
	switch s {
	case "seq":
		return false, nil
	case "random":
		return true, nil
	}
	return false, &usageError{fmt.Sprintf("-ids %q: seq or random", s)}
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	rawURL := fs.String("url", "", "hook URL (http://127.0.0.1:PORT/hooks/ID); loopback only")
	secret := fs.String("secret", "", "the hook's GitHub secret")
	event := fs.String("event", "push", "X-GitHub-Event")
	size := fs.Int("size", 2048, "body size in bytes")
	ids := fs.String("ids", "seq", idsUsage)
	conns := fs.Int("c", 64, "keep-alive connections (closed loop: requests in flight)")
	dur := fs.Duration("d", 5*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "unmeasured load before the measured duration")
	rate := fs.Float64("rate", 0, "open loop: requests per second at fixed intervals (latency from the intended send time)")
	expect := fs.String("expect", "202", "comma-separated statuses that count as success; any other is an error")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	metrics := fs.String("metrics", "", "webhookd admin /metrics URL: report events per commit during the run")
	pid := fs.Int("pid", 0, "sample this process's RssAnon during the run")
	label := fs.String("label", "", "label for the result")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	t, err := parseTarget(*rawURL)
	if err != nil {
		return &usageError{err.Error()}
	}
	if *metrics != "" {
		if _, err := parseTarget(*metrics); err != nil {
			return &usageError{"-metrics: " + err.Error()}
		}
	}
	if *conns < 1 || *dur <= 0 || *rate < 0 {
		return &usageError{"load: -c must be >= 1, -d > 0, -rate >= 0"}
	}
	random, err := parseIDs(*ids)
	if err != nil {
		return err
	}
	ex := map[int]bool{}
	for _, s := range strings.Split(*expect, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return &usageError{fmt.Sprintf("-expect: bad status %q", s)}
		}
		ex[n] = true
	}
	cfg := loadConfig{
		target: t, secret: *secret, event: *event, size: *size, conns: *conns, dur: *dur,
		warmup: *warmup, rate: *rate, random: random, expect: ex, timeout: *timeout, metrics: *metrics, pid: *pid,
	}
	res, err := load(ctx, cfg)
	if err != nil {
		return err
	}
	res.Label = *label
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintln(stdout, res.String())
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d requests failed (first: %s)", res.Errors, res.FirstErr)
	}
	return nil
}

// String is a one-line summary.
func (r *Result) String() string {
	s := fmt.Sprintf("%s c=%d", r.Mode, r.Conns)
	if r.Mode == "open" {
		s += fmt.Sprintf(" rate=%.0f/s", r.Rate)
	}
	s += fmt.Sprintf(" size=%d: %d requests in %.2fs = %.0f req/s; p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; statuses %v; errors %d",
		r.Size, r.Requests, r.Duration, r.RPS, r.P50, r.P90, r.P99, r.Max, r.Statuses, r.Errors)
	if r.Missed > 0 {
		s += fmt.Sprintf("; missed %d", r.Missed)
	}
	if r.PerCommit > 0 {
		s += fmt.Sprintf("; %.1f events per commit (%.0f commits)", r.PerCommit, r.Commits)
	}
	if r.RSSMaxKB > 0 {
		s += fmt.Sprintf("; RssAnon max %d KiB", r.RSSMaxKB)
	}
	if r.CPUPerReq > 0 {
		s += fmt.Sprintf("; server CPU %.1f µs/req", r.CPUPerReq)
	}
	return s
}

// sample is one measured request.
type sample struct {
	lat    time.Duration
	status int
	err    error
}

// worker's tally, merged at the end.
type tally struct {
	n        int // samples, answered or not
	lats     []time.Duration
	statuses map[int]int
	errors   int
	firstErr string
}

func (t *tally) add(s sample, expect map[int]bool) {
	t.n++
	if s.err != nil {
		t.errors++
		if t.firstErr == "" {
			t.firstErr = s.err.Error()
		}
		return
	}
	t.statuses[s.status]++
	if !expect[s.status] {
		t.errors++
		if t.firstErr == "" {
			t.firstErr = fmt.Sprintf("status %d", s.status)
		}
	}
	t.lats = append(t.lats, s.lat)
}

// load runs cfg and measures it. It stops by itself: after warmup+dur no
// request starts, and requests still in flight get cfg.timeout.
func load(ctx context.Context, cfg loadConfig) (*Result, error) {
	base, err := newDeliveries(cfg.target, cfg.secret, cfg.event, cfg.size, cfg.random)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	measure := start.Add(cfg.warmup)
	end := measure.Add(cfg.dur)
	ctx, cancel := context.WithDeadline(ctx, end.Add(cfg.timeout))
	defer cancel()

	metricsRead := make(chan metricsSnapshot, 1)
	if cfg.metrics != "" {
		go func() {
			wait(ctx, time.Until(measure))
			s, _ := readMetrics(cfg.metrics)
			metricsRead <- s
		}()
	}
	rss := &rssSampler{pid: cfg.pid}
	rssDone := make(chan struct{})
	var cpu0, cpu1 time.Duration
	if cfg.pid > 0 {
		go func() {
			defer close(rssDone)
			wait(ctx, time.Until(measure))
			cpu0, _ = cpuTime(cfg.pid)
			rss.run(ctx, end)
		}()
	} else {
		close(rssDone)
	}

	tallies := make([]*tally, cfg.conns)
	var wg sync.WaitGroup
	var missed int
	if cfg.rate > 0 {
		missed = openLoop(ctx, cfg, base, start, measure, end, tallies)
	} else {
		for w := 0; w < cfg.conns; w++ {
			tl := &tally{statuses: map[int]int{}}
			tallies[w] = tl
			wg.Add(1)
			go func() {
				defer wg.Done()
				closedLoop(ctx, cfg, base.clone(), w, measure, end, tl)
			}()
		}
		wg.Wait()
	}
	finished := time.Now()
	// The server's CPU up to the last answer counted, as the requests are:
	// an open loop's late answers come after the window's end.
	if cfg.pid > 0 {
		cpu1, _ = cpuTime(cfg.pid)
	}
	<-rssDone
	res := &Result{Mode: "closed", Conns: cfg.conns, Size: cfg.size, Statuses: map[string]int{}, Missed: missed}
	if cfg.rate > 0 {
		res.Mode, res.Rate = "open", cfg.rate
	}
	var lats []time.Duration
	for _, tl := range tallies {
		lats = append(lats, tl.lats...)
		for st, n := range tl.statuses {
			res.Statuses[strconv.Itoa(st)] += n
		}
		res.Errors += tl.errors
		if res.FirstErr == "" {
			res.FirstErr = tl.firstErr
		}
	}
	res.Errors += missed
	if missed > 0 && res.FirstErr == "" {
		res.FirstErr = fmt.Sprintf("%d requests not answered within %s", missed, cfg.timeout)
	}
	res.Requests = len(lats)
	// Requests started (closed loop) or meant to be sent (open loop) in the
	// window, over the time until the last of them was answered: a server
	// that falls behind the offered rate answers at its own pace. The open
	// loop's last send is an interval before the end, so the offered window
	// is its floor.
	res.Duration = finished.Sub(measure).Seconds()
	if cfg.rate > 0 {
		res.Duration = max(cfg.dur.Seconds(), res.Duration)
	}
	if res.Duration > 0 {
		res.RPS = float64(res.Requests) / res.Duration
	}
	slices.Sort(lats)
	res.P50, res.P90, res.P99 = ms(pct(lats, 50)), ms(pct(lats, 90)), ms(pct(lats, 99))
	if len(lats) > 0 {
		res.Max = ms(lats[len(lats)-1])
	}
	if cfg.metrics != "" {
		select {
		case before := <-metricsRead:
			after, err := readMetrics(cfg.metrics)
			if err == nil && before.ok {
				res.Commits = after.commits - before.commits
				if res.Commits > 0 {
					res.PerCommit = (after.eventsSum - before.eventsSum) / res.Commits
				}
			}
		default:
		}
	}
	if cfg.pid > 0 {
		if n := res.Requests; n > 0 && cpu1 > cpu0 {
			res.CPUPerReq = math.Round(float64((cpu1-cpu0).Microseconds())/float64(n)*10) / 10
		}
		res.RSSMaxKB = rss.max
		res.RSSEndKB, _ = rssAnonKB(cfg.pid)
	}
	return res, nil
}

func closedLoop(ctx context.Context, cfg loadConfig, d *deliveries, w int, measure, end time.Time, tl *tally) {
	c := newConn(cfg.target.addr, cfg.timeout)
	defer c.close()
	for seq := 0; ctx.Err() == nil; seq++ {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		status, err := c.do(d.next(w, seq))
		if t0.Before(measure) {
			continue
		}
		tl.add(sample{lat: time.Since(t0), status: status, err: err}, cfg.expect)
		if err != nil {
			// Do not spin on a dead server.
			wait(ctx, 10*time.Millisecond)
		}
	}
}

// openLoop sends at fixed intervals from start to end over cfg.conns
// connections. A request's latency runs from the time it was meant to be
// sent, so a server that falls behind is charged for the queue it causes
// (no coordinated omission). It returns how many intended requests were
// never answered.
func openLoop(ctx context.Context, cfg loadConfig, base *deliveries, start, measure, end time.Time, tallies []*tally) int {
	interval := time.Duration(float64(time.Second) / cfg.rate)
	total := int(end.Sub(start) / interval)
	sends := make(chan time.Time, total+1)
	var wg sync.WaitGroup
	for w := range tallies {
		tl := &tally{statuses: map[int]int{}}
		tallies[w] = tl
		d := base.clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newConn(cfg.target.addr, cfg.timeout)
			defer c.close()
			seq := 0
			for at := range sends {
				if ctx.Err() != nil {
					return
				}
				status, err := c.do(d.next(w, seq))
				seq++
				if at.Before(measure) {
					continue
				}
				tl.add(sample{lat: time.Since(at), status: status, err: err}, cfg.expect)
			}
		}()
	}
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 && !wait(ctx, d) {
			break
		}
		sends <- at
	}
	close(sends)
	wg.Wait()
	got := 0
	for _, tl := range tallies {
		got += tl.n
	}
	// The sends the dispatcher meant to make in the measured window: i in
	// [first, total), first the earliest i with start+i*interval >= measure.
	first := int((measure.Sub(start) + interval - 1) / interval)
	return max(0, total-first-got)
}

// wait sleeps for d or until ctx ends; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
