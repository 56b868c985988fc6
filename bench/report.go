package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// machine describes where the suite ran.
type machine struct {
	Date     string
	CPUs     int
	CPU      string
	Memory   string
	Kernel   string
	FS       string // file system of the work directory
	Go       string
	Webhookd string
	LoadAvg  string // at the start
	Took     string
	// Steal is the share of the VM's CPU time the host took during the
	// run (/proc/stat's steal), in percent, if StealOK.
	Steal   float64
	StealOK bool
	cpu0    cpuStat // /proc/stat at the start
}

// cpuStat is the machine's CPU time from /proc/stat's "cpu" line, in
// clock ticks: all of it, and the part the host took (steal).
type cpuStat struct {
	total, steal uint64
	ok           bool
}

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	return parseCPUStat(string(b))
}

// parseCPUStat reads the "cpu" line: user nice system idle iowait irq
// softirq steal guest guest_nice (guest time is counted in user already).
func parseCPUStat(s string) cpuStat {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuStat{}
	}
	var c cpuStat
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuStat{}
		}
		c.total += n
		if i == 7 {
			c.steal = n
		}
	}
	c.ok = true
	return c
}

// stealShare is the share of the CPU time between a and b that the host
// took, in percent; false if either reading is missing.
func stealShare(a, b cpuStat) (float64, bool) {
	if !a.ok || !b.ok || b.total <= a.total || b.steal < a.steal {
		return 0, false
	}
	return 100 * float64(b.steal-a.steal) / float64(b.total-a.total), true
}

// finish notes what the machine did during the run, once it has ended.
func (m *machine) finish(took time.Duration) {
	m.Took = took.Round(time.Second).String()
	m.Steal, m.StealOK = stealShare(m.cpu0, readCPUStat())
}

func describeMachine(dir string) machine {
	m := machine{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), CPUs: runtime.NumCPU(), Go: runtime.Version(), cpu0: readCPUStat()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := statusField(b, "MemTotal:"); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	m.FS = mountOf(dir)
	return m
}

// mountOf names the file system dir is on: its type, device and mount
// point, from /proc/mounts.
func mountOf(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	best, desc := "", "unknown"
	journals := jbd2Journals()
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
			opts := f[3]
			if len(opts) > 40 {
				opts = opts[:40] + "…"
			}
			desc = fmt.Sprintf("%s%s on %s (%s, %s)", f[2], journalNote(f[2], f[0], journals), f[0], mp, opts)
		}
	}
	return desc
}

// jbd2Journals lists the journals the kernel runs (/proc/fs/jbd2: one
// entry per journaled ext3/ext4 file system, named device-inode).
func jbd2Journals() []string {
	es, err := os.ReadDir("/proc/fs/jbd2")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// journalNote says whether an ext3/ext4 file system on dev has a journal,
// which changes what an fsync costs: "" for other file systems.
func journalNote(fsType, dev string, journals []string) string {
	if fsType != "ext4" && fsType != "ext3" {
		return ""
	}
	name := filepath.Base(dev)
	for _, j := range journals {
		if strings.HasPrefix(j, name+"-") {
			return " (journaled)"
		}
	}
	return " (no journal)"
}

// webhookdVersion asks the binary for its version line.
func webhookdVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// Markers delimit the part of docs/benchmarks.md that the suite writes;
// the rest of the file belongs to whoever wrote it and is kept as it is.
const (
	beginMarker = "<!-- bench/run.sh: generated section begins; edit bench/report.go, not this -->"
	endMarker   = "<!-- bench/run.sh: generated section ends -->"
)

// writeReport puts rep between the markers in path, creating the file (with
// a short introduction) or appending the section when it has none.
func writeReport(path, rep string) error {
	section := beginMarker + "\n" + rep + endMarker + "\n"
	old, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		old = []byte(docIntro)
	case err != nil:
		return err
	}
	var out []byte
	i := bytes.Index(old, []byte(beginMarker))
	j := bytes.Index(old, []byte(endMarker))
	if i >= 0 && j > i {
		rest := old[j+len(endMarker):]
		rest = bytes.TrimPrefix(rest, []byte("\n"))
		out = append(append(append([]byte{}, old[:i]...), section...), rest...)
	} else {
		out = append(bytes.TrimRight(old, "\n"), "\n\n"...)
		out = append(out, section...)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

const docIntro = `# Benchmarks

How fast webhookd takes in webhooks with an fsync before every answer, measured against the
limits of the machine it runs on (the disk's fsync rate, a bare net/http handler) and against
itself with group commit turned off; and what its scheduler and a large backlog cost.
`

// stats of one case over rounds.
type caseStats struct {
	name                                  string
	rps, p50, p90, p99, max, perCommit    []float64
	rss, missed, cpu                      []float64
	errors                                int
	errText                               []string
	medRPS, medP50, medP90, medP99, medMx float64
	medPC, medRSS, medCPU                 float64
}

func collect(results []Measurement) map[string]*caseStats {
	out := map[string]*caseStats{}
	for _, m := range results {
		if m.Load == nil {
			continue
		}
		c := out[m.Name]
		if c == nil {
			c = &caseStats{name: m.Name}
			out[m.Name] = c
		}
		r := m.Load
		c.rps = append(c.rps, r.RPS)
		c.p50 = append(c.p50, r.P50)
		c.p90 = append(c.p90, r.P90)
		c.p99 = append(c.p99, r.P99)
		c.max = append(c.max, r.Max)
		if r.PerCommit > 0 {
			c.perCommit = append(c.perCommit, r.PerCommit)
		}
		if r.RSSMaxKB > 0 {
			c.rss = append(c.rss, float64(r.RSSMaxKB))
		}
		c.missed = append(c.missed, float64(r.Missed))
		if r.CPUPerReq > 0 {
			c.cpu = append(c.cpu, r.CPUPerReq)
		}
		c.errors += r.Errors
		if m.Err != "" {
			c.errText = append(c.errText, m.Err)
		}
	}
	for _, c := range out {
		c.medRPS, c.medP50, c.medP90, c.medP99, c.medMx = median(c.rps), median(c.p50), median(c.p90), median(c.p99), median(c.max)
		c.medPC, c.medRSS, c.medCPU = median(c.perCommit), median(c.rss), median(c.cpu)
	}
	return out
}

// buildReport renders the generated section.
func buildReport(results []Measurement, mc machine, cfg suiteConfig, cmdline string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cs := collect(results)
	get := func(name string) *caseStats {
		if c := cs[name]; c != nil {
			return c
		}
		return &caseStats{name: name}
	}
	var fsyncs, commitsPerSec, bigMB, bigMS []float64
	for _, m := range results {
		if m.Fsync != nil {
			fsyncs = append(fsyncs, m.Fsync.PerSec)
			commitsPerSec = append(commitsPerSec, m.Fsync.Commits)
			bigMB = append(bigMB, m.Fsync.BigMBps)
			bigMS = append(bigMS, m.Fsync.BigMS)
		}
	}
	// runs are one case's rounds: elapsed per job, and CPU per job of the
	// scheduler (or loop) itself and of the commands it ran.
	type runs struct{ perJob, cpu, child []float64 }
	add := func(r *runs, perJob, cpu, child float64) {
		r.perJob = append(r.perJob, perJob)
		r.cpu = append(r.cpu, cpu)
		r.child = append(r.child, child)
	}
	// loops are webhookd's commit loop in the scheduler runs, by parallelism.
	type loop struct{ jobsPerCommit, commitMS, busy, runMS []float64 }
	loops := map[string]*loop{}
	type pair struct{ bare, durable, wh runs }
	sched := map[string]*pair{}
	var schedKeys []string
	startAt := map[string][]float64{}
	startRSS := map[string][]float64{}
	for _, m := range results {
		switch {
		case m.Fork != nil:
			k := m.Name[strings.IndexByte(m.Name, '/')+1:]
			if sched[k] == nil {
				sched[k] = &pair{}
				schedKeys = append(schedKeys, k)
			}
			if m.Fork.Durable {
				add(&sched[k].durable, m.Fork.PerJobUS, m.Fork.CPUUS, m.Fork.ChildCPUUS)
			} else {
				add(&sched[k].bare, m.Fork.PerJobUS, m.Fork.CPUUS, m.Fork.ChildCPUUS)
			}
		case m.Sched != nil:
			k := strings.TrimPrefix(m.Name, "sched/")
			if sched[k] == nil {
				sched[k] = &pair{}
				schedKeys = append(schedKeys, k)
			}
			add(&sched[k].wh, m.Sched.PerJobUS, m.Sched.CPUUS, m.Sched.ChildCPUUS)
			if m.Sched.Commits > 0 {
				if loops[k] == nil {
					loops[k] = &loop{}
				}
				l := loops[k]
				l.jobsPerCommit = append(l.jobsPerCommit, float64(m.Sched.Jobs)/float64(m.Sched.Commits))
				l.commitMS = append(l.commitMS, m.Sched.CommitMS)
				l.busy = append(l.busy, 100*m.Sched.CommitBusy)
				l.runMS = append(l.runMS, m.Sched.RunMS)
			}
		case m.Start != nil:
			startAt[m.Name] = append(startAt[m.Name], m.Start.StartMS)
			startRSS[m.Name] = append(startRSS[m.Name], m.Start.RSSAnonKB)
		}
	}
	sort.Strings(schedKeys)

	p("## Ingest, scheduler and backlog, measured (`%s`)\n\n", cmdline)
	p("- **When**: %s; the run took %s.\n", mc.Date, mc.Took)
	p("- **Machine**: %d CPUs (`nproc`), %s, %s RAM, %s; the database on %s.\n", mc.CPUs, mc.CPU, mc.Memory, mc.Kernel, mc.FS)
	p("- **Software**: %s; the load tool built with %s.\n", webhookdVersion(cfg.bin), mc.Go)
	p("- **Method**: every measurement ran %d times, alternating with the others (each round runs every case once, in reverse order on odd rounds; every load run gets a fresh server and a fresh database, %s of warm-up, then %s measured). Figures are **medians** over the rounds and ratios are between medians of this one run. The load tool (`bench/`, on the same machine) keeps N keep-alive connections busy with correctly signed GitHub push deliveries of %d bytes, each with a new delivery id, and checks every status (202 from webhookd, 200 from the bare handler); the open-loop run sends at fixed intervals and measures latency from the intended send time.\n",
		cfg.rounds, cfg.warmup, cfg.dur, cfg.size)
	bare16, bare64 := get("bare/c=16"), get("bare/c=64")
	p("- **Noise**: %s. Ratios from the same run are the figures to trust.\n\n", noiseNote(mc, bare64))

	naive64 := get("naive/c=64")
	wh16, wh64 := get("webhookd/c=16"), get("webhookd/c=64")
	g16, g64 := get("group/c=16"), get("group/c=64")
	ng16, ng64 := get("nogroup/c=16"), get("nogroup/c=64")
	open := get("webhookd/open=5000")
	one := get("webhookd/gomaxprocs=1/c=256")

	p("### Targets (issue 8)\n\n")
	p("| target | measured (median) | |\n|---|---|---|\n")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	r64 := ratio(wh64.medRPS, bare64.medRPS)
	p("| durable ingest at 64 connections ≥ 50%% of the bare handler | %.0f vs %.0f req/s = **%.0f%%** (the naive verify-then-group-commit handler: %.0f req/s = %.0f%%) | %s |\n", wh64.medRPS, bare64.medRPS, 100*r64, naive64.medRPS, 100*ratio(naive64.medRPS, bare64.medRPS), mark(r64 >= 0.5))
	openOK := open.medP99 <= 5 && median(open.missed) == 0 && open.errors == 0
	p("| open loop at 5,000 req/s: p99 ≤ 5 ms | p99 **%.2f ms** (p50 %.2f, max %.1f; p99 of each round %s); %.0f req/s answered, %.0f missed | %s |\n", open.medP99, open.medP50, open.medMx, joinf(open.p99, "%.2f"), open.medRPS, median(open.missed), mark(openOK))
	p("| ≥ 20 events per commit at 64 connections | **%.1f** | %s |\n", wh64.medPC, mark(wh64.medPC >= 20))
	p("| GOMAXPROCS=1, 256 connections: ≥ 10k req/s, p99 ≤ 50 ms | **%.0f req/s**, p99 **%.1f ms** (%.1f events per commit) | %s |\n", one.medRPS, one.medP99, one.medPC, mark(one.medRPS >= 10000 && one.medP99 <= 50))
	emptyName := "startup/empty"
	fullName := fmt.Sprintf("startup/backlog=%d", cfg.backlog)
	idle := median(startRSS[emptyName])
	if idle > 0 {
		p("| RssAnon idle ≤ 12 MB | **%.1f MiB** | %s |\n", idle/1024, mark(idle <= 12*1024))
	}
	p("| RssAnon under the 64-connection load ≤ 64 MB | **%.1f MiB** (highest sample of each run) | %s |\n", wh64.medRSS/1024, mark(wh64.medRSS > 0 && wh64.medRSS <= 64*1024))
	if cfg.backlog > 0 {
		se, sf, s1 := median(startAt[emptyName]), median(startAt[fullName]), median(startAt["startup/one-job"])
		re, rf, r1 := idle, median(startRSS[fullName]), median(startRSS["startup/one-job"])
		okT := sf <= se*1.10
		okM := rf <= re*1.10
		p("| %d pending jobs: start-up within 10%% of an empty store's | %.1f ms vs %.1f ms (%+.0f%%, %+.1f ms); one pending job: %.1f ms | %s |\n", cfg.backlog, sf, se, 100*(ratio(sf, se)-1), sf-se, s1, mark(okT))
		p("| %d pending jobs: memory within 10%% of an empty store's | %.2f MiB vs %.2f MiB (%+.0f%%); one pending job (the same one run, no backlog): %.2f MiB | %s |\n", cfg.backlog, rf/1024, re/1024, 100*(ratio(rf, re)-1), r1/1024, mark(okM))
	}
	for _, k := range schedKeys {
		pr := sched[k]
		bare, wh := median(pr.bare.perJob), median(pr.wh.perJob)
		over := ratio(wh, bare) - 1
		floor := ""
		if d := median(pr.durable.perJob); d > 0 {
			floor = fmt.Sprintf(" (fork/exec with each run's record committed before the next: %.0f µs = %+.0f%%)", d, 100*(ratio(d, bare)-1))
		}
		p("| scheduler overhead per exec'd job ≤ 20%% (%d jobs, %s) | %.0f µs vs %.0f µs bare = **%+.0f%%**%s | %s |\n", cfg.schedN, strings.Replace(k, "p=", "parallelism ", 1), wh, bare, 100*over, floor, mark(over <= 0.20))
	}
	p("\n")

	p("### HTTP ingest (issue 2's comparison)\n\n")
	p("`bare` is a net/http handler that reads the body and answers 200 (the HTTP ceiling, same server timeouts as webhookd's listener). `webhookd` is the real binary on a config in a temp dir: verify, plan (one action whose `when` is false for these pushes, so each event is stored with one skipped job and nothing is forked), write event + job in one fsynced transaction (the delivery id's de-duplication entry goes into its index later, merged in key order; see docs/reliability.md), answer 202; metrics and info logs on, as shipped. `group` and `nogroup` are webhookd's own listener and store wired in-process by the load tool (`webhookd-bench serve`, no admin or metrics, the daemon's garbage collector settings), with the store's group-commit loop and with `store.Options.NoGroupCommit` (one transaction and fsync per event). `naive` is the reference point issue 8 names, a naive verify-then-group-commit handler (`webhookd-bench naive`): check the signature, put the body under a sequence number in a single-writer loop's bbolt transaction (one yield, then drain), answer 202 after the commit; no de-duplication index, jobs, headers, counters or log line.\n\n")
	p("| case | req/s | p50 ms | p90 ms | p99 ms | max ms | events/commit | server CPU µs/req | RssAnon max | req/s of each round |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	names := []string{"bare/c=16", "webhookd/c=16", "group/c=16", "nogroup/c=16", "bare/c=64", "naive/c=64", "webhookd/c=64", "group/c=64", "nogroup/c=64", "webhookd/open=5000", "webhookd/gomaxprocs=1/c=256"}
	for _, n := range names {
		c := get(n)
		pc, rss := "", ""
		if c.medPC > 0 {
			pc = fmt.Sprintf("%.1f", c.medPC)
		}
		if c.medRSS > 0 {
			rss = fmt.Sprintf("%.1f MiB", c.medRSS/1024)
		}
		var each []string
		for _, v := range c.rps {
			each = append(each, fmt.Sprintf("%.0f", v))
		}
		name := n
		if c.errors > 0 {
			name += fmt.Sprintf(" (%d errors)", c.errors)
		}
		p("| %s | %.0f | %.2f | %.2f | %.2f | %.1f | %s | %.0f | %s | %s |\n", name, c.medRPS, c.medP50, c.medP90, c.medP99, c.medMx, pc, c.medCPU, rss, strings.Join(each, ", "))
	}
	p("\nRatios (medians of this run):\n\n")
	p("| | 16 connections | 64 connections |\n|---|---:|---:|\n")
	p("| webhookd ÷ bare handler | %.0f%% | %.0f%% |\n", 100*ratio(wh16.medRPS, bare16.medRPS), 100*ratio(wh64.medRPS, bare64.medRPS))
	p("| group commit ÷ one commit per request (throughput) | %.1f× | %.1f× |\n", ratio(g16.medRPS, ng16.medRPS), ratio(g64.medRPS, ng64.medRPS))
	p("| group commit ÷ one commit per request (p99) | %.2f× | %.2f× |\n", ratio(g16.medP99, ng16.medP99), ratio(g64.medP99, ng64.medP99))
	p("| group (in-process) ÷ bare handler | %.0f%% | %.0f%% |\n", 100*ratio(g16.medRPS, bare16.medRPS), 100*ratio(g64.medRPS, bare64.medRPS))
	p("| webhookd binary ÷ in-process group | %.0f%% | %.0f%% |\n", 100*ratio(wh16.medRPS, g16.medRPS), 100*ratio(wh64.medRPS, g64.medRPS))
	p("| naive verify-then-group-commit ÷ bare handler | | %.0f%% |\n", 100*ratio(naive64.medRPS, bare64.medRPS))
	p("| webhookd ÷ naive verify-then-group-commit | | %.0f%% |\n\n", 100*ratio(wh64.medRPS, naive64.medRPS))

	p("### The disk\n\n")
	p("4 KiB `pwrite` + `fdatasync` in a loop on the database's file system (what bbolt does twice per commit): median **%.0f fsyncs/s** (rounds: %s), so at most **%.0f commits/s** — one commit per request could never pass that; group commit is what lets ingest go beyond it. A group commit writes more: 256 KiB appended to the file and fdatasync'd (about 64 new pages, a commit of a few dozen events) takes **%.2f ms** (median), %.0f MB/s.\n\n",
		median(fsyncs), joinf(fsyncs, "%.0f"), median(commitsPerSec), median(bigMS), median(bigMB))

	if len(schedKeys) > 0 {
		p("### Scheduler overhead (issue 3)\n\n")
		p("%d jobs of one action whose command is a no-op shell script (`#!/bin/sh` / `exit 0`), queued in the store beforehand through the store package (`webhookd-bench fill`); webhookd is started on that store and timed from its process start until `/metrics` shows every job succeeded (polled every 100 ms, every 2 ms near the end). The bare baseline runs the same script with `os/exec` the same number of times at the same parallelism, with nothing around it (`webhookd-bench forkexec`). The durable floor (`webhookd-bench forkexec -db FILE`) is a naive durable scheduler: the same loop, where each run's result (a JSON record of ~100 bytes) goes to a single group-commit writer's bbolt transaction, and the next run of that goroutine starts once it is committed; no queue, no state, no output capture, no payload file. Per job: elapsed ÷ jobs.\n\n", cfg.schedN)
		p("| parallelism | bare fork/exec µs/job | durable floor µs/job | webhookd µs/job | webhookd over bare | floor over bare | webhookd ÷ floor | each round (bare / floor / webhookd) |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, k := range schedKeys {
			pr := sched[k]
			bare, floor, wh := median(pr.bare.perJob), median(pr.durable.perJob), median(pr.wh.perJob)
			p("| %s | %.0f | %.0f | %.0f | %+.0f%% | %+.0f%% | %.2f | %s / %s / %s |\n", strings.TrimPrefix(k, "p="), bare, floor, wh, 100*(ratio(wh, bare)-1), 100*(ratio(floor, bare)-1), ratio(wh, floor), joinf(pr.bare.perJob, "%.0f"), joinf(pr.durable.perJob, "%.0f"), joinf(pr.wh.perJob, "%.0f"))
		}
		p("\n")
		p("CPU per job, medians: the scheduler's own (the bare loop, the floor's loop and writer, the webhookd process; webhookd's includes its start and the `/metrics` polling) and the commands' (the children each waited for); \"CPUs busy\" is their sum over the elapsed time per job, out of %d.\n\n", mc.CPUs)
		p("| parallelism | case | own CPU µs/job | commands' CPU µs/job | CPUs busy |\n|---|---|---:|---:|---:|\n")
		for _, k := range schedKeys {
			pr := sched[k]
			for _, c := range []struct {
				name string
				r    runs
			}{{"bare fork/exec", pr.bare}, {"durable floor", pr.durable}, {"webhookd", pr.wh}} {
				own, child, per := median(c.r.cpu), median(c.r.child), median(c.r.perJob)
				if own == 0 && child == 0 {
					continue // results from before CPU was recorded
				}
				p("| %s | %s | %.0f | %.0f | %.2f |\n", strings.TrimPrefix(k, "p="), c.name, own, child, ratio(own+child, per))
			}
		}
		p("\n")
		if len(loops) > 0 {
			p("webhookd's commit loop in those runs, medians (`webhookd_store_commit_seconds` at the end, the start's commits included): jobs per commit (a finish starts its queue's next job in the same commit), the mean time of a commit, and the share of the elapsed time it spent committing — near 100%%, every finish waits for the loop; beside them, a run's median time from its start to its end, as the store recorded it (a queue's next run starts while the commit that starts it is written, so at parallelism 1 the longer of the two sets the pace).\n\n")
			p("| parallelism | jobs per commit | ms per commit | loop committing | ms per run | each round (jobs per commit / ms / %%) |\n|---|---:|---:|---:|---:|---|\n")
			for _, k := range schedKeys {
				l := loops[k]
				if l == nil {
					continue
				}
				p("| %s | %.2f | %.2f | %.0f%% | %.2f | %s / %s / %s |\n", strings.TrimPrefix(k, "p="), median(l.jobsPerCommit), median(l.commitMS), median(l.busy), median(l.runMS), joinf(l.jobsPerCommit, "%.2f"), joinf(l.commitMS, "%.2f"), joinf(l.busy, "%.0f"))
			}
			p("\n")
		}
	}
	if cfg.backlog > 0 {
		p("### Start-up on a backlog (issue 3)\n\n")
		p("A store with %d pending jobs (events with one job each, in one queue of an action with concurrency 1), built with the store package (`webhookd-bench fill`), against an empty store and a store with one pending job, with the same config; the action runs `sleep 600`, so on the backlog (and on the one job) the daemon reads the due index, starts the first job and holds the rest. The backlog store was last closed cleanly (a start after a crash rebuilds bbolt's free page list by walking the whole file: about a second per 2 GB). Start-up is the time from `exec` until the admin `/healthz` answers; RssAnon (private memory; the mmapped database is file-backed and not counted) is read 2 s later.\n\n", cfg.backlog)
		p("| store | start-up ms | RssAnon | each round (ms / KiB) |\n|---|---:|---:|---|\n")
		for _, n := range []string{emptyName, "startup/one-job", fullName} {
			p("| %s | %.1f | %.1f MiB | %s / %s |\n", strings.TrimPrefix(n, "startup/"), median(startAt[n]), median(startRSS[n])/1024, joinf(startAt[n], "%.1f"), joinf(startRSS[n], "%.0f"))
		}
		p("\n")
	}
	var errs []string
	for _, n := range names {
		for _, e := range get(n).errText {
			errs = append(errs, n+": "+e)
		}
	}
	if len(errs) > 0 {
		p("### Errors during the run\n\n")
		for _, e := range errs {
			p("- %s\n", e)
		}
		p("\n")
	}
	return b.String()
}

func joinf(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

// noiseNote describes what else the machine did: these machines are
// shared. Its load average at the start, and the host's steal during the
// run, show other work inside the VM and the host taking its CPUs away;
// neither shows a host that runs the VM's instructions slower, which the
// bare handler's CPU per request does.
func noiseNote(mc machine, bare *caseStats) string {
	var parts []string
	var one float64
	if _, err := fmt.Sscan(mc.LoadAvg, &one); err != nil {
		parts = append(parts, "the machine's load at the start is unknown")
	} else if one < 1 {
		parts = append(parts, fmt.Sprintf("the load average was low at the start (%s)", mc.LoadAvg))
	} else {
		parts = append(parts, fmt.Sprintf("the machine was **busy with other work** at the start (load average %s), so absolute numbers are low", mc.LoadAvg))
	}
	if mc.StealOK {
		parts = append(parts, fmt.Sprintf("the host took %.1f%% of this machine's CPU time during the run (steal)", mc.Steal))
	}
	if len(bare.cpu) > 0 {
		parts = append(parts, fmt.Sprintf("the bare handler cost **%.0f µs** of server CPU per request at 64 connections (rounds: %s), the figure to compare between runs: a host that runs this machine slower shows in it and in neither of the others", bare.medCPU, joinf(bare.cpu, "%.0f")))
	}
	return strings.Join(parts, "; ")
}
