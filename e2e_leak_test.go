package main

// Leaks: the daemon's goroutines, open files and memory across many
// requests and action runs. The suite sends 5,000 requests with 500 runs
// and asserts that goroutines and open files come back to where they were
// after a warm-up; scripts/leakcheck.sh runs 100,000 requests and 10,000
// runs (-leak.requests, -leak.runs, -leak.phases) and prints the numbers
// at each phase, recorded in docs/reliability.md.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	leakRequests = flag.Int("leak.requests", 5000, "requests of TestE2E_Leaks")
	leakRuns     = flag.Int("leak.runs", 500, "action runs of TestE2E_Leaks (half commands, half HTTP)")
	leakPhases   = flag.Int("leak.phases", 2, "phases of TestE2E_Leaks, measured after each")
)

const leakConfig = `
[server]
listen = "127.0.0.1:0"
[store]
path = "webhookd.db"
[admin]
listen = "127.0.0.1:0"
[log]
level = "info"

[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_GITHUB_SECRET"
events = ["push"]

  [[hook.action]]
  name = "deploy"
  when = 'payload.ref == "refs/heads/main"'
  run = ["./ok.sh", "{{ .payload.after }}"]
  concurrency = 4

  [[hook.action]]
  name = "relay"
  when = 'payload.ref == "refs/heads/relay"'
  url = "%RELAY%"
  concurrency = 4
`

// leakSample is one measurement of the daemon, taken when it is idle.
type leakSample struct {
	Requests, Runs int
	Goroutines     int
	FDs            int
	RSSAnonKiB     int // heap, stacks: what a leak grows
	RSSFileKiB     int // mapped files: the database, which grows with its events
	DBBytes        int64
}

func TestE2E_Leaks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID: Linux only")
	}
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer relay.Close()
	dir := t.TempDir()
	writeConfig(t, dir, strings.ReplaceAll(leakConfig, "%RELAY%", relay.URL))
	writeScript(t, dir, "ok.sh", "exit 0\n")
	d := startDaemon(t, dir, spineEnv...)
	pid := d.cmd.Process.Pid

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var sent, runs atomic.Int64
	var wantSucceeded atomic.Int64
	send := func(n, nruns int) {
		every := max(1, n/max(1, nruns))
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					k := sent.Add(1)
					status := leakRequest(t, client, d.addr, i, every, k, &runs)
					if status == 202 && i%every == 0 {
						wantSucceeded.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	quiesce := func() leakSample {
		t.Helper()
		waitFor(t, 120*time.Second, "the queue to drain", func() bool {
			s := leakStatus(t, d)
			return s.Jobs["pending"]+s.Jobs["failed"]+s.Jobs["running"] == 0 && s.Jobs["succeeded"] >= wantSucceeded.Load()
		})
		// Idle keep-alive connections are not leaks: close them on both
		// sides (ours to the daemon, the daemon's to the relay).
		client.CloseIdleConnections()
		relay.CloseClientConnections()
		var s leakSample
		// Give connection goroutines a moment to notice, then take the
		// least of a few samples.
		for i := 0; i < 10; i++ {
			time.Sleep(100 * time.Millisecond)
			m := leakMeasure(t, d, pid)
			if i == 0 || m.Goroutines+m.FDs < s.Goroutines+s.FDs {
				s = m
			}
		}
		s.Requests, s.Runs = int(sent.Load()), int(runs.Load())
		return s
	}

	// Warm-up: a tenth of the load, so that pools, caches and the
	// runtime's own goroutines are part of the baseline.
	n, nruns, phases := *leakRequests, *leakRuns, max(1, *leakPhases)
	send(max(100, n/10), max(10, nruns/10))
	base := quiesce()
	samples := []leakSample{base}
	for p := 0; p < phases; p++ {
		send(n/phases, nruns/phases)
		samples = append(samples, quiesce())
	}
	last := samples[len(samples)-1]

	var b strings.Builder
	fmt.Fprintf(&b, "| requests | runs | goroutines | open files | RssAnon (KiB) | RssFile (KiB) | database (bytes) |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %d |\n", s.Requests, s.Runs, s.Goroutines, s.FDs, s.RSSAnonKiB, s.RSSFileKiB, s.DBBytes)
	}
	t.Logf("LEAKS requests=%d runs=%d\n%s", last.Requests-base.Requests, last.Runs-base.Runs, b.String())

	// Goroutines and open files are back to the warm-up's level; a leak of
	// one per request or run would be thousands.
	const slack = 2
	if last.Goroutines > base.Goroutines+slack {
		t.Errorf("goroutines: %d after the load, %d after the warm-up; want no growth", last.Goroutines, base.Goroutines)
	}
	if last.FDs > base.FDs+slack {
		t.Errorf("open files: %d after the load, %d after the warm-up; want no growth", last.FDs, base.FDs)
	}
	if got := last.Runs - base.Runs; got < nruns*9/10 {
		t.Errorf("only %d runs; want about %d", got, nruns)
	}
	if err := d.stop(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// leakRequest sends request i of a phase: every every-th one runs an
// action (commands and HTTP in turn); of the rest, one in ten has a bad
// signature, one in ten goes to no hook, and the others are stored with a
// skipped job. It returns the status.
func leakRequest(t *testing.T, c *http.Client, addr string, i, every int, k int64, runs *atomic.Int64) int {
	ref := "refs/heads/dev"
	secret := spineSecret
	path := "/hooks/site"
	switch {
	case i%every == 0:
		ref = "refs/heads/main"
		if (int(k)/every)%2 == 1 {
			ref = "refs/heads/relay"
		}
		runs.Add(1)
	case i%10 == 1:
		secret = "wrong"
	case i%10 == 2:
		path = "/hooks/none"
	}
	body := pushBody(ref, fmt.Sprintf("c%d", k))
	req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "leak-"+strconv.FormatInt(k, 10))
	req.Header.Set("X-Hub-Signature-256", githubSign(secret, body))
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("request %d: %v", k, err)
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

type leakStatusJSON struct {
	Jobs          map[string]int64 `json:"jobs"`
	DatabaseBytes int64            `json:"database_bytes"`
}

func leakStatus(t *testing.T, d *proc) leakStatusJSON {
	t.Helper()
	res, err := httpClient.Get("http://" + d.admin + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s leakStatusJSON
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// leakMeasure reads the daemon's goroutines (from /metrics), open files and
// resident memory (from /proc).
func leakMeasure(t *testing.T, d *proc, pid int) leakSample {
	t.Helper()
	var s leakSample
	res, err := httpClient.Get("http://" + d.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			s.Goroutines = int(f)
		}
	}
	res.Body.Close()
	// The scrape's own connection is closed before the files are counted.
	httpClient.CloseIdleConnections()
	time.Sleep(20 * time.Millisecond)
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	s.FDs = len(ents)
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			switch f[0] {
			case "RssAnon:":
				s.RSSAnonKiB, _ = strconv.Atoi(f[1])
			case "RssFile:":
				s.RSSFileKiB, _ = strconv.Atoi(f[1])
			}
		}
	}
	s.DBBytes = leakStatus(t, d).DatabaseBytes
	httpClient.CloseIdleConnections()
	return s
}
