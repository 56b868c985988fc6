package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// rssAnonKB reads a process's RssAnon (private anonymous memory, in KiB)
// from /proc. The mmapped database file is file-backed and not in it.
func rssAnonKB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return statusField(b, "RssAnon:")
}

func statusField(status []byte, name string) (int, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			f := strings.Fields(string(v))
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", name)
}

// cpuTime reads a process's user+system CPU time from /proc (all its
// threads; not its children).
func cpuTime(pid int) (time.Duration, error) {
	self, _, err := cpuTimes(pid)
	return self, err
}

// cpuTimes reads a process's own user+system CPU time and that of the
// children it has waited for, from /proc.
func cpuTimes(pid int) (self, children time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime, stime, cutime and cstime are
	// fields 14 to 17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	var t [4]int64
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("bad /proc/%d/stat: %w", pid, err)
		}
	}
	// USER_HZ is 100 on Linux.
	const tick = 10 * time.Millisecond
	return time.Duration(t[0]+t[1]) * tick, time.Duration(t[2]+t[3]) * tick, nil
}

// rssSampler records a process's highest RssAnon.
type rssSampler struct {
	pid int
	max int
}

func (r *rssSampler) run(ctx context.Context, until time.Time) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb, err := rssAnonKB(r.pid); err == nil && kb > r.max {
			r.max = kb
		}
		if !time.Now().Before(until) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// metricsSnapshot is what the load tool reads of webhookd's /metrics.
type metricsSnapshot struct {
	any       bool    // some webhookd_ metric was read
	ok        bool    // events per commit was among them
	commits   float64 // webhookd_store_events_per_commit_count: commits that wrote events
	eventsSum float64 // webhookd_store_events_per_commit_sum
	succeeded float64 // webhookd_jobs{state="succeeded"}
	pending   float64 // webhookd_jobs{state="pending"}
	running   float64 // webhookd_jobs{state="running"}
	// Every commit of the store, events or not, and the time they took.
	storeCommits  float64 // webhookd_store_commit_seconds_count
	commitSeconds float64 // webhookd_store_commit_seconds_sum
}

var metricsClient = &http.Client{Timeout: 10 * time.Second}

// readMetrics scrapes a webhookd admin /metrics (loopback only).
func readMetrics(url string) (metricsSnapshot, error) {
	if _, err := parseTarget(url); err != nil {
		return metricsSnapshot{}, err
	}
	resp, err := metricsClient.Get(url)
	if err != nil {
		return metricsSnapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return metricsSnapshot{}, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metricsSnapshot, error) {
	var s metricsSnapshot
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, "webhookd_") {
			s.any = true
		}
		switch name {
		case "webhookd_store_events_per_commit_count":
			s.commits, s.ok = v, true
		case "webhookd_store_events_per_commit_sum":
			s.eventsSum = v
		case `webhookd_jobs{state="succeeded"}`:
			s.succeeded = v
		case `webhookd_jobs{state="pending"}`:
			s.pending = v
		case `webhookd_jobs{state="running"}`:
			s.running = v
		case "webhookd_store_commit_seconds_count":
			s.storeCommits = v
		case "webhookd_store_commit_seconds_sum":
			s.commitSeconds = v
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if !s.any {
		return s, fmt.Errorf("no webhookd metrics in the answer")
	}
	return s, nil
}
