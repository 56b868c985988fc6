package admin

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// readmeMetric is a row of the README's table of metrics.
type readmeMetric struct {
	name, typ string
	labels    []string // sorted
}

// readmeMetrics reads the table under the README's "## Metrics".
func readmeMetrics(t *testing.T) []readmeMetric {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		t.Fatal(`README.md has no "## Metrics"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var rows []readmeMetric
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`webhookd_") {
			continue
		}
		m := readmeMetric{name: strings.Trim(strings.TrimSpace(cells[1]), "`"), typ: strings.TrimSpace(cells[2])}
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				m.labels = append(m.labels, l)
			}
		}
		slices.Sort(m.labels)
		rows = append(rows, m)
	}
	if len(rows) < 10 {
		t.Fatalf("read %d rows from the README's table of metrics; want them all", len(rows))
	}
	return rows
}

// sampleLabels is the sorted label names of a sample line, le left out.
func sampleLabels(line string) (name string, labels []string) {
	name, rest, ok := strings.Cut(line, "{")
	if !ok {
		name, _, _ = strings.Cut(line, " ")
		return name, nil
	}
	rest, _, _ = strings.Cut(rest, "}")
	for _, kv := range strings.Split(rest, `",`) {
		k, _, _ := strings.Cut(kv, "=")
		if k != "le" && k != "" {
			labels = append(labels, k)
		}
	}
	slices.Sort(labels)
	return name, labels
}

// TestMetrics_Readme: every metric in the README's table is served, with
// the type and the labels the table gives it, and nothing named webhookd_
// that the table leaves out; Go's and the process's own metrics come with
// them; the histograms' buckets span what the table says.
func TestMetrics_Readme(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	m := e.srv.opts.Metrics
	m.ObserveRequest(listener.RequestInfo{Hook: "site", Status: 202, Duration: time.Millisecond, EventID: "x"})
	m.ObserveRequest(listener.RequestInfo{Hook: "site", Status: 401, Check: "stale"})
	m.ObserveCommit(store.CommitInfo{Ops: 1, Events: 1, Duration: time.Millisecond})
	m.ObserveRun(actions.RunInfo{Hook: "site", Action: "deploy", Result: "failed", Duration: time.Second})
	e.ingest("site", "push", `{}`)
	_, body := e.call("GET", "/metrics", "", nil)
	lines := strings.Split(body, "\n")

	want := map[string]readmeMetric{}
	for _, r := range readmeMetrics(t) {
		want[r.name] = r
		if !slices.Contains(lines, "# TYPE "+r.name+" "+r.typ) {
			t.Errorf("/metrics has no %q", "# TYPE "+r.name+" "+r.typ)
		}
	}
	seen := map[string]bool{}
	for _, line := range lines {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels := sampleLabels(line)
		if !strings.HasPrefix(name, "webhookd_") {
			continue
		}
		base := name
		if _, ok := want[base]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suf); ok && want[b].typ == "histogram" {
					base = b
				}
			}
		}
		r, ok := want[base]
		if !ok {
			t.Errorf("/metrics serves %s, which the README's table does not list", name)
			continue
		}
		seen[base] = true
		if !slices.Equal(labels, r.labels) {
			t.Errorf("%s has labels %q; the README says %q", line, labels, r.labels)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("/metrics has no sample of %s", name)
		}
	}
	for _, prefix := range []string{"go_", "process_"} {
		if prefix == "process_" && runtime.GOOS != "linux" {
			continue
		}
		if !strings.Contains(body, "\n"+prefix) {
			t.Errorf("/metrics has no %s* metrics", prefix)
		}
	}

	// Buckets: ingest from 100 µs to 52 s, runs from 1 ms to 70 min, ×4.
	bounds := func(prefix string) []float64 {
		var out []float64
		for _, line := range lines {
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				continue
			}
			le, _, _ := strings.Cut(rest, `"`)
			if le == "+Inf" {
				continue
			}
			f, err := strconv.ParseFloat(le, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			out = append(out, f)
		}
		return out
	}
	near := func(a, b float64) bool { return a > b*0.99 && a < b*1.01 }
	if b := bounds(`webhookd_ingest_seconds_bucket{le="`); len(b) == 0 || !near(b[0], 0.0001) || !near(b[len(b)-1], 52.4288) {
		t.Errorf("webhookd_ingest_seconds buckets %v; want 100µs to 52s", b)
	}
	b := bounds(`webhookd_action_run_seconds_bucket{action="deploy",hook="site",le="`)
	if len(b) == 0 || !near(b[0], 0.001) || b[len(b)-1] < 69*60 || b[len(b)-1] > 70*60 {
		t.Errorf("webhookd_action_run_seconds buckets %v; want 1ms to 70min", b)
	}
	for i := 1; i < len(b); i++ {
		if !near(b[i], 4*b[i-1]) {
			t.Errorf("webhookd_action_run_seconds buckets %v: not ×4 each", b)
			break
		}
	}
}

// TestMetrics_ReloadTimestamp: the time of the last reload is when the
// config was last read, whether it loaded or not; the start counts as one.
func TestMetrics_ReloadTimestamp(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, "")
	m := NewMetrics(e.st, clock)
	value := func() string {
		var b strings.Builder
		m.Write(&b)
		for _, line := range strings.Split(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "webhookd_config_last_reload_timestamp_seconds "); ok {
				return v
			}
		}
		t.Fatal("no webhookd_config_last_reload_timestamp_seconds")
		return ""
	}
	if got := value(); got != "1.8e+09" {
		t.Errorf("at the start: %s; want 1.8e+09", got)
	}
	mu.Lock()
	now = now.Add(100 * time.Second)
	mu.Unlock()
	m.ObserveReload(false)
	if got := value(); got != "1.8000001e+09" {
		t.Errorf("after a failed reload: %s; want 1.8000001e+09 (read, though it did not load)", got)
	}
}
