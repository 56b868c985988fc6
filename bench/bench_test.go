package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	bolt "go.etcd.io/bbolt"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		url  string
		addr string
		ok   bool
	}{
		{"http://127.0.0.1:9000/hooks/a", "127.0.0.1:9000", true},
		{"http://127.1.2.3:80/x?y=1", "127.1.2.3:80", true},
		{"http://localhost:9000/hooks/a", "127.0.0.1:9000", true},
		{"http://[::1]:9000/hooks/a", "[::1]:9000", true},
		{"http://10.0.0.1:9000/hooks/a", "", false},
		{"http://192.168.1.1/hooks/a", "", false},
		{"http://example.com/hooks/a", "", false},
		{"http://0.0.0.0:9000/", "", false},
		{"https://127.0.0.1:9000/", "", false},
	}
	for _, tc := range tests {
		got, err := parseTarget(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("parseTarget(%q) err = %v; want ok %v", tc.url, err, tc.ok)
			continue
		}
		if tc.ok && got.addr != tc.addr {
			t.Errorf("parseTarget(%q).addr = %q; want %q", tc.url, got.addr, tc.addr)
		}
	}
}

// TestDeliveries_Verify checks that the load tool's deliveries pass
// webhookd's own GitHub verification, have the asked size, and that every
// delivery id is new, with either kind of id.
func TestDeliveries_Verify(t *testing.T) {
	for _, random := range []bool{false, true} {
		t.Run(fmt.Sprintf("random=%v", random), func(t *testing.T) { testDeliveries(t, random) })
	}
}

func testDeliveries(t *testing.T, random bool) {
	tg, err := parseTarget("http://127.0.0.1:1/hooks/bench")
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDeliveries(tg, "s3cret", "push", 2048, random)
	if err != nil {
		t.Fatal(err)
	}
	p, err := listener.NewProvider(listener.ProviderConfig{Name: "github", Secrets: [][]byte{[]byte("s3cret")}})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := listener.NewProvider(listener.ProviderConfig{Name: "github", Secrets: [][]byte{[]byte("other")}})
	seen := map[string]bool{}
	for i, w := range []*deliveries{d, d.clone()} {
		for seq := 0; seq < 3; seq++ {
			raw := w.next(2*i+seq%2, seq)
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("ReadRequest: %v\n%s", err, raw)
			}
			body, _ := io.ReadAll(req.Body)
			if len(body) != 2048 {
				t.Errorf("body is %d bytes; want 2048", len(body))
			}
			var push struct {
				Ref, After, Delivery string
				Commits              []struct{ ID, Message string }
			}
			if err := json.Unmarshal(body, &push); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			if push.Ref != "refs/heads/main" || len(push.After) != 40 || push.Delivery != req.Header.Get("X-GitHub-Delivery") || len(push.Commits) < 2 {
				t.Errorf("body = %+v; want a push with its delivery id and commits", push)
			}
			r := &listener.Request{Header: req.Header, Body: body, URL: req.URL, Now: time.Now()}
			if err := p.Verify(r); err != nil {
				t.Errorf("Verify = %v; want nil", err)
			}
			if err := wrong.Verify(r); err == nil {
				t.Errorf("Verify with another secret = nil; want an error")
			}
			id := p.Delivery(r)
			if seen[id] {
				t.Errorf("delivery id %q repeated", id)
			}
			seen[id] = true
			if ev := p.Event(r); ev != "push" {
				t.Errorf("Event = %q; want push", ev)
			}
		}
	}
	if _, err := newDeliveries(tg, "s", "push", 10, random); err == nil {
		t.Errorf("newDeliveries(size 10) = nil error; want one")
	}
}

// TestDeliveryIDs checks the two kinds of delivery id: a worker's
// sequential ids sort in the order sent; random ones are version 4 UUIDs,
// all different, whose order has nothing to do with the order sent.
func TestDeliveryIDs(t *testing.T) {
	tg, err := parseTarget("http://127.0.0.1:1/hooks/bench")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := newDeliveries(tg, "s", "push", 2048, false)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, seq.deliveryID(3, i))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("sequential ids of one worker are not in the order sent: %v", ids[:5])
	}
	rnd, err := newDeliveries(tg, "s", "push", 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	ids = ids[:0]
	for _, d := range []*deliveries{rnd, rnd.clone()} {
		for i := 0; i < 300; i++ {
			id := d.deliveryID(3, i)
			if !uuid4.MatchString(id) {
				t.Fatalf("random id %q is not a version 4 UUID", id)
			}
			if seen[id] {
				t.Fatalf("random id %q repeated", id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// In order sent, about half of consecutive pairs ascend; sorted, all.
	up := 0
	for i := 1; i < len(ids); i++ {
		if ids[i] > ids[i-1] {
			up++
		}
	}
	if up < len(ids)/4 || up > 3*len(ids)/4 {
		t.Errorf("%d of %d consecutive random ids ascend; want about half", up, len(ids)-1)
	}
	if _, err := parseIDs("guid"); err == nil {
		t.Errorf("parseIDs(guid) = nil error; want one")
	}
}

// TestFillHistory checks that fill -history leaves a store of past events
// with nothing queued, each with its own random delivery id.
func TestFillHistory(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	var out, errOut bytes.Buffer
	if err := runFill(context.Background(), []string{"-db", db, "-n", "200", "-history", "-ids", "random", "-workers", "8"}, &out, &errOut); err != nil {
		t.Fatalf("fill: %v\n%s", err, errOut.String())
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Events != 200 || s.Jobs[store.Skipped] != 200 || s.Jobs[store.Pending] != 0 {
		t.Errorf("stats = %d events, jobs %v; want 200 events, 200 skipped, none pending", s.Events, s.Jobs)
	}
	evs, _, err := st.ListEvents(store.EventFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	deliveries := map[string]bool{}
	for _, ev := range evs {
		deliveries[ev.Delivery] = true
	}
	if len(deliveries) != 200 {
		t.Errorf("%d distinct delivery ids among %d events; want 200", len(deliveries), len(evs))
	}
}

func TestReadAnswer(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
		keep   bool
	}{
		{"length", "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello", 202, true},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, true},
		{"http10", "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 503, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.raw + "NEXT"))
			status, keep, err := readAnswer(r)
			if err != nil || status != tc.status || keep != tc.keep {
				t.Fatalf("readAnswer = %d, %v, %v; want %d, %v, nil", status, keep, err, tc.status, tc.keep)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != "NEXT" {
				t.Errorf("left %q after the answer; want NEXT", rest)
			}
		})
	}
	if _, _, err := readAnswer(bufio.NewReader(strings.NewReader("garbage\r\n\r\n"))); err == nil {
		t.Errorf("readAnswer(garbage) = nil error")
	}
}

// TestLoad runs both loops briefly against a loopback server that answers
// 202 to all but every tenth request, and checks that every request was
// counted and the other statuses were errors.
func TestLoad(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		bad := n%10 == 0
		mu.Unlock()
		if bad {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	tg, err := parseTarget(srv.URL + "/hooks/bench")
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0, 400} {
		cfg := loadConfig{target: tg, secret: "s", event: "push", size: 2048, conns: 4, dur: 250 * time.Millisecond,
			warmup: 0, rate: rate, expect: map[int]bool{202: true}, timeout: 5 * time.Second}
		res, err := load(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		total := res.Statuses["202"] + res.Statuses["503"]
		if res.Requests == 0 || total != res.Requests || res.Statuses["503"] == 0 || res.Errors != res.Statuses["503"] {
			t.Errorf("rate %v: %s; want every answer counted and the 503s as errors", rate, res)
		}
		if rate > 0 && (res.Requests < 80 || res.Requests > 101 || res.Missed != 0) {
			t.Errorf("open loop at %v/s for 250ms: %d requests, %d missed; want about 100, none missed", rate, res.Requests, res.Missed)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP webhookd_store_events_per_commit Events written by one commit.
# TYPE webhookd_store_events_per_commit histogram
webhookd_store_events_per_commit_bucket{vmrange="1.000e+00...1.136e+00"} 3
webhookd_store_events_per_commit_sum 120
webhookd_store_events_per_commit_count 4
webhookd_jobs{state="succeeded"} 7
webhookd_jobs{state="pending"} 2
webhookd_jobs{state="running"} 1
webhookd_store_commit_seconds_sum 0.25
webhookd_store_commit_seconds_count 9
`
	m, err := parseMetrics(strings.NewReader(in))
	if err != nil || !m.ok || m.commits != 4 || m.eventsSum != 120 || m.succeeded != 7 || m.pending != 2 || m.running != 1 || m.storeCommits != 9 || m.commitSeconds != 0.25 {
		t.Errorf("parseMetrics = %+v, %v", m, err)
	}
	m, err = parseMetrics(strings.NewReader("webhookd_jobs{state=\"succeeded\"} 3\n"))
	if err != nil || m.ok || m.succeeded != 3 {
		t.Errorf("parseMetrics(jobs only) = %+v, %v; want the jobs, no events per commit", m, err)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines 5\n")); err == nil {
		t.Errorf("parseMetrics(no webhookd metrics) = nil error")
	}
}

// TestNaive: the naive reference handler commits every delivery it
// acknowledges, and refuses a bad signature.
func TestNaive(t *testing.T) {
	w, err := openNaiveWriter(filepath.Join(t.TempDir(), "naive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	db := w.db
	srv := httptest.NewServer(&naiveHandler{secret: []byte("s"), w: w})
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/hooks/bench", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned delivery: %d; want 401", resp.StatusCode)
	}
	tg, err := parseTarget(srv.URL + "/hooks/bench")
	if err != nil {
		t.Fatal(err)
	}
	res, err := load(context.Background(), loadConfig{target: tg, secret: "s", event: "push", size: 2048, conns: 8,
		dur: 200 * time.Millisecond, expect: map[int]bool{202: true}, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	db.View(func(tx *bolt.Tx) error { stored = tx.Bucket([]byte("events")).Stats().KeyN; return nil })
	if res.Requests == 0 || res.Errors != 0 || stored != res.Statuses["202"] {
		t.Errorf("%s; %d stored; want every request acknowledged and stored", res, stored)
	}
}

// TestForkExecDurable: the durable floor runs the command n times and
// commits one record per run, numbered 1..n, each with the run's exit code.
func TestForkExecDurable(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "exit3.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "floor.db")
	_, err := forkExec(context.Background(), 12, 3, []string{script}, dbPath)
	if err == nil || !strings.Contains(err.Error(), "12 of 12 runs failed") {
		t.Fatalf("forkExec of a failing command = %v; want 12 of 12 runs failed", err)
	}
	db, err := bolt.Open(dbPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := map[int64]bool{}
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).ForEach(func(k, v []byte) error {
			var r runRecord
			if err := json.Unmarshal(v, &r); err != nil {
				t.Errorf("record %x: %v", k, err)
			}
			if r.ExitCode != 3 || r.Finished.Before(r.Started) {
				t.Errorf("record %+v; want exit code 3, finished after started", r)
			}
			seen[r.Run] = true
			return nil
		})
	})
	for i := int64(1); i <= 12; i++ {
		if !seen[i] {
			t.Errorf("run %d has no record (records: %v)", i, seen)
		}
	}
	res, err := forkExec(context.Background(), 5, 2, []string{"true"}, "")
	if err != nil || res.N != 5 || res.Durable || res.PerJobUS <= 0 {
		t.Errorf("bare forkExec = %+v, %v", res, err)
	}
}

// TestCPUTimes: the children's CPU time read from /proc is what getrusage
// reports for them, so the fields are the right ones, once a child has
// used enough CPU (50 ms) to tell them from zero at /proc's 10 ms ticks.
func TestCPUTimes(t *testing.T) {
	for rusage(syscall.RUSAGE_CHILDREN) < 50*time.Millisecond {
		cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
	}
	self, children, err := cpuTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := rusage(syscall.RUSAGE_CHILDREN)
	if d := children - want; d < -20*time.Millisecond || d > 20*time.Millisecond {
		t.Errorf("children's CPU from /proc = %v; getrusage says %v", children, want)
	}
	if own := rusage(syscall.RUSAGE_SELF); self > own+20*time.Millisecond {
		t.Errorf("own CPU from /proc = %v; getrusage says %v", self, own)
	}
}

// TestReport_SchedCPU: the scheduler section reports each case's CPU per
// job, its commands' and the CPUs busy, and webhookd's commit loop (jobs
// per commit, time per commit, share of the time committing) beside the
// median run, from the medians of its rounds;
// the open-loop target gives each round's p99 beside their median.
func TestReport_SchedCPU(t *testing.T) {
	var results []Measurement
	for r, f := range []float64{1, 2, 3} {
		results = append(results,
			Measurement{Name: "forkexec/p=4", Round: r, Fork: &ForkExecResult{N: 10, Parallel: 4, PerJobUS: 400 * f, CPUUS: 100 * f, ChildCPUUS: 600 * f}},
			Measurement{Name: "forkexec-durable/p=4", Round: r, Fork: &ForkExecResult{N: 10, Parallel: 4, Durable: true, PerJobUS: 500 * f, CPUUS: 300 * f, ChildCPUUS: 600 * f}},
			Measurement{Name: "sched/p=4", Round: r, Sched: &SchedResult{Jobs: 10, PerJobUS: 800 * f, CPUUS: 400 * f, ChildCPUUS: 640 * f, Commits: int(4 + f), CommitMS: f, CommitBusy: 0.9 + f/100, RunMS: 0.5 * f}})
	}
	for r, p99 := range []float64{4.1, 6.2, 4.9} {
		results = append(results, Measurement{Name: "webhookd/open=5000", Round: r, Load: &Result{Mode: "open", Rate: 5000, RPS: 5000, P50: 2, P99: p99, Max: 9}})
	}
	doc := buildReport(results, machine{CPUs: 2}, suiteConfig{rounds: 3, schedN: 10, schedP: []int{4}}, "test")
	for _, row := range []string{
		"p99 **4.90 ms** (p50 2.00, max 9.0; p99 of each round 4.10, 6.20, 4.90)",
		"| 4 | 800 | 1000 | 1600 | +100% | +25% | 1.60 |",
		"| 4 | bare fork/exec | 200 | 1200 | 1.75 |",
		"| 4 | durable floor | 600 | 1200 | 1.80 |",
		"| 4 | webhookd | 800 | 1280 | 1.30 |",
		"out of 2.",
		"| 4 | 1.67 | 2.00 | 92% | 1.00 | 2.00, 1.67, 1.43 / 1.00, 2.00, 3.00 / 91, 92, 93 |",
	} {
		if !strings.Contains(doc, row) {
			t.Errorf("report lacks %q:\n%s", row, doc)
		}
	}
}

// TestJournalNote: an ext4 or ext3 file system is described as journaled
// when the kernel runs a journal for its device, and as without one when
// it does not; other file systems get no note.
func TestJournalNote(t *testing.T) {
	journals := []string{"sda1-8", "nvme0n1p2-8"}
	for _, tc := range []struct{ fs, dev, want string }{
		{"ext4", "/dev/sda1", " (journaled)"},
		{"ext4", "/dev/nvme0n1p2", " (journaled)"},
		{"ext4", "/dev/vda", " (no journal)"},
		{"ext4", "/dev/sda", " (no journal)"}, // sda1's journal is not sda's
		{"ext3", "/dev/sdb1", " (no journal)"},
		{"xfs", "/dev/sda1", ""},
		{"tmpfs", "tmpfs", ""},
	} {
		if got := journalNote(tc.fs, tc.dev, journals); got != tc.want {
			t.Errorf("journalNote(%s, %s) = %q; want %q", tc.fs, tc.dev, got, tc.want)
		}
	}
}

// TestMedianRun: sched's median run is read from the runs the store
// recorded, from each one's start to its end.
func TestMedianRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := time.Now()
	for i := range 3 {
		_, err := st.Ingest(ctx, &store.NewEvent{Hook: "h", Type: "push", Delivery: strconv.Itoa(i), Received: base,
			Body: []byte("{}"), Jobs: []store.NewJob{{Action: "a", Key: strconv.Itoa(i), Concurrency: 1}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	due, _, err := st.Due("h", "a", time.Now(), 10)
	if err != nil || len(due) != 3 {
		t.Fatalf("Due = %v, %v; want the three jobs", due, err)
	}
	for i, d := range []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond} {
		started, err := st.Start(ctx, due[i].JobID)
		if err != nil || len(started) != 1 {
			t.Fatalf("Start = %v, %v", started, err)
		}
		code := 0
		out := store.Outcome{State: store.Succeeded, Concurrency: 1,
			Run: store.Run{Started: base, Finished: base.Add(d), ExitCode: &code, Result: store.RunSucceeded}}
		if _, err := st.Finish(ctx, started[0].ID, out); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := medianRun(path)
	if err != nil || got != 2 {
		t.Errorf("medianRun = %v, %v; want 2 ms", got, err)
	}
}

// TestNoiseNote: the report's noise line gives the load average, the
// host's steal over the run (from /proc/stat's cpu line, read at the
// start and the end) and the bare handler's CPU per request with its
// rounds, which is what shows a host that runs the machine slower.
func TestNoiseNote(t *testing.T) {
	a := parseCPUStat("cpu  100 5 50 800 20 0 10 15 7 0\ncpu0 50 2 25 400 10 0 5 7 3 0\n")
	b := parseCPUStat("cpu  400 5 150 1300 20 0 30 95 7 0\n")
	if !a.ok || a.total != 1000 || a.steal != 15 {
		t.Fatalf("parseCPUStat = %+v; want total 1000, steal 15", a)
	}
	if got, ok := stealShare(a, b); got != 8 || !ok { // 80 of 1000 ticks
		t.Errorf("stealShare = %v, %v; want 8, true", got, ok)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu a b c d e f g h\n"} {
		if c := parseCPUStat(bad); c.ok {
			t.Errorf("parseCPUStat(%q) = %+v; want not ok", bad, c)
		}
	}
	if _, ok := stealShare(a, cpuStat{}); ok {
		t.Error("stealShare with a missing reading is ok; want not ok")
	}
	if _, ok := stealShare(b, a); ok {
		t.Error("stealShare backwards is ok; want not ok")
	}
	if c := readCPUStat(); runtime.GOOS == "linux" && (!c.ok || c.total == 0) {
		t.Errorf("readCPUStat on linux = %+v; want a reading", c)
	}

	var results []Measurement
	for r, cpu := range []float64{50, 74, 48} {
		results = append(results, Measurement{Name: "bare/c=64", Round: r, Load: &Result{Conns: 64, RPS: 20000, CPUPerReq: cpu}})
	}
	doc := buildReport(results, machine{CPUs: 2, LoadAvg: "0.24 0.05 0.02", Steal: 2.4, StealOK: true}, suiteConfig{rounds: 3}, "test")
	for _, want := range []string{
		"the load average was low at the start (0.24 0.05 0.02)",
		"the host took 2.4% of this machine's CPU time during the run (steal)",
		"the bare handler cost **50 µs** of server CPU per request at 64 connections (rounds: 50, 74, 48)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	doc = buildReport(nil, machine{CPUs: 2, LoadAvg: "2.80 1.00 0.50"}, suiteConfig{rounds: 3}, "test")
	if !strings.Contains(doc, "**busy with other work** at the start (load average 2.80 1.00 0.50)") || strings.Contains(doc, "steal") || strings.Contains(doc, "bare handler cost") {
		t.Errorf("report of a busy start without steal or bare runs:\n%s", doc)
	}
}

// behindServer answers 202 after spinning work of CPU: over one
// connection, at most 1/work requests a second. It spins until its own
// thread has had work of CPU, not for work of wall time, so that on a busy
// machine, where the spin is preempted, each answer still costs work.
func behindServer(t *testing.T, work time.Duration) target {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for t0 := rusage(rusageThread); rusage(rusageThread)-t0 < work; {
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	tg, err := parseTarget(srv.URL + "/hooks/bench")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// loadBehind offers 50 requests in 125 ms over one connection to a server
// that takes work for each (about 500 ms to answer them all at 10 ms).
func loadBehind(t *testing.T, work time.Duration) *Result {
	cfg := loadConfig{target: behindServer(t, work), secret: "s", event: "push", size: 2048, conns: 1, dur: 125 * time.Millisecond,
		rate: 400, expect: map[int]bool{202: true}, timeout: 5 * time.Second, pid: os.Getpid()}
	res, err := load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Errors != 0 {
		t.Fatalf("%s; want 50 requests answered, no errors", res)
	}
	return res
}

// TestLoad_OpenLoopBehind: when the server cannot keep up with the offered
// rate, the open loop's req/s is what was answered over the time it took
// to answer it, not the offered count over the offered window.
func TestLoad_OpenLoopBehind(t *testing.T) {
	res := loadBehind(t, 10*time.Millisecond)
	if res.RPS > 150 {
		t.Errorf("RPS = %.0f over %.3fs; want at most about 100 (the server's pace), not the offered rate", res.RPS, res.Duration)
	}
}

// TestLoad_CPUPerReqLateAnswers: the server's CPU per request covers the
// answers given after the offered window, which the count includes.
func TestLoad_CPUPerReqLateAnswers(t *testing.T) {
	const work = 10 * time.Millisecond
	res := loadBehind(t, work)
	if res.CPUPerReq < 0.7*float64(work.Microseconds()) {
		t.Errorf("CPUPerReq = %.0f µs; want about %d µs (each answer's CPU, the late ones too)", res.CPUPerReq, work.Microseconds())
	}
}
