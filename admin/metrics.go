package admin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// Metrics are webhookd's Prometheus metrics, each family in a set of its
// own (no global state), written in the Prometheus text format with its
// HELP and TYPE lines. The daemon feeds them through the Observe methods;
// the queue gauges are read from the store's counters at scrape time.
//
// They use github.com/VictoriaMetrics/metrics rather than Prometheus's
// client_golang: the same text exposition, with real le histograms, for
// 2.2 MiB less binary (client_golang brings protobuf; see
// docs/benchmarks.md, "Binary size").
type Metrics struct {
	st  *store.Store
	now func() time.Time

	families []*family

	requests        *family
	ingestLatency   *metrics.PrometheusHistogram
	verifyFailures  *family
	commits         *family
	commitLatency   *metrics.PrometheusHistogram
	eventsPerCommit *metrics.PrometheusHistogram
	runs            *family
	runDuration     *family
	reloads         *family

	mu         sync.Mutex
	reloadOK   float64
	reloadTime float64
}

// family is one metric name, with its help, type and series.
type family struct {
	name, help, typ string
	set             *metrics.Set
	buckets         []float64 // histograms
}

func (m *Metrics) family(name, typ, help string, buckets []float64) *family {
	f := &family{name: name, help: help, typ: typ, set: metrics.NewSet(), buckets: buckets}
	m.families = append(m.families, f)
	return f
}

// series names one series: labels are given as name, value pairs, in the
// order of their names.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(labels[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// labelEscaper escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func (f *family) counter(labels ...string) *metrics.Counter {
	return f.set.GetOrCreateCounter(series(f.name, labels...))
}

func (f *family) histogram(labels ...string) *metrics.PrometheusHistogram {
	return f.set.GetOrCreatePrometheusHistogramExt(series(f.name, labels...), f.buckets)
}

// NewMetrics makes every metric. st is read at scrape time for job counts
// by state, the oldest queued job's age and the database size.
func NewMetrics(st *store.Store, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{st: st, now: now}
	m.requests = m.family("webhookd_requests_total", "counter", "Requests to the public listener, by hook and status.", nil)
	// 100µs to 52s: a sender gives up after some seconds (GitHub: 10s),
	// and a body may take up to the listener's 60s read timeout.
	ingest := m.family("webhookd_ingest_seconds", "histogram", "Time from a delivery's arrival to its answer, for stored events.", metrics.ExponentialBuckets(0.0001, 2, 20))
	m.ingestLatency = ingest.histogram()
	m.verifyFailures = m.family("webhookd_verification_failures_total", "counter", "Refused deliveries, by hook and the check that failed.", nil)
	m.commits = m.family("webhookd_store_commits_total", "counter", "Store commits, by result.", nil)
	commit := m.family("webhookd_store_commit_seconds", "histogram", "Time of one store commit, fsync included.", metrics.ExponentialBuckets(0.00005, 2, 16))
	m.commitLatency = commit.histogram()
	perCommit := m.family("webhookd_store_events_per_commit", "histogram", "Events written by one commit (group commit).", metrics.ExponentialBuckets(1, 2, 12))
	m.eventsPerCommit = perCommit.histogram()
	m.runs = m.family("webhookd_action_runs_total", "counter", "Action runs, by hook, action and result.", nil)
	// 1ms to 70min: a command's default timeout is 10m, and deploys
	// take minutes. (Up to 262s, as before, every longer run fell in +Inf
	// and histogram_quantile reported it as 262s.)
	m.runDuration = m.family("webhookd_action_run_seconds", "histogram", "Duration of action runs.", metrics.ExponentialBuckets(0.001, 4, 12))
	m.reloads = m.family("webhookd_config_reloads_total", "counter", "Config reloads, by result (ok or error).", nil)
	// Results that have not happened yet still show, as 0.
	m.reloads.counter("result", "ok")
	m.reloads.counter("result", "error")
	m.commits.counter("result", "ok")
	m.commits.counter("result", "error")
	m.reloadOK = 1 // the daemon starts only on a good config
	m.reloadTime = float64(now().Unix())
	return m
}

// ServeHTTP serves the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	m.Write(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// Write writes every metric to w.
func (m *Metrics) Write(w io.Writer) {
	for _, f := range m.families {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		f.set.WritePrometheus(w)
	}
	m.mu.Lock()
	ok, at := m.reloadOK, m.reloadTime
	m.mu.Unlock()
	gauge(w, "webhookd_config_last_reload_successful", "1 when the config file loaded at the last reload (or at the start), 0 while it is broken.", ok)
	gauge(w, "webhookd_config_last_reload_timestamp_seconds", "When the config was last reloaded (or loaded at the start), as a Unix time.", at)
	m.writeStore(w)
	metrics.WriteProcessMetrics(w)
}

func gauge(w io.Writer, name, help string, v float64, labels ...string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	fmt.Fprintf(w, "%s %s\n", series(name, labels...), strconv.FormatFloat(v, 'g', -1, 64))
}

// writeStore writes the gauges read from the store's counters.
func (m *Metrics) writeStore(w io.Writer) {
	s, err := m.st.Stats()
	if err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP webhookd_jobs Jobs in the store, by state.\n# TYPE webhookd_jobs gauge\n")
	for _, st := range store.States {
		fmt.Fprintf(w, "%s %d\n", series("webhookd_jobs", "state", string(st)), s.Jobs[st])
	}
	age := 0.0
	if s.OldestQueue != "" {
		age = max(0, m.now().Sub(s.QueuedSince).Seconds())
	}
	gauge(w, "webhookd_oldest_queued_job_age_seconds", "How long the pending or failed job that has waited longest has waited (0 if none): since it was created, or since a retry put it back in its queue.", age)
	gauge(w, "webhookd_events", "Events in the store.", float64(s.Events))
	gauge(w, "webhookd_database_bytes", "Size of the database file.", float64(s.FileSize))
}

// ObserveRequest records one request to the public listener.
func (m *Metrics) ObserveRequest(r listener.RequestInfo) {
	m.requests.counter("hook", r.Hook, "status", strconv.Itoa(r.Status)).Inc()
	if r.EventID != "" {
		m.ingestLatency.Update(r.Duration.Seconds())
	}
	if r.Status == 401 && r.Check != "" {
		m.verifyFailures.counter("check", r.Check, "hook", r.Hook).Inc()
	}
}

// ObserveCommit records one store commit.
func (m *Metrics) ObserveCommit(c store.CommitInfo) {
	if c.Err != nil {
		m.commits.counter("result", "error").Inc()
		return
	}
	m.commits.counter("result", "ok").Inc()
	m.commitLatency.Update(c.Duration.Seconds())
	if c.Events > 0 {
		m.eventsPerCommit.Update(float64(c.Events))
	}
}

// ObserveRun records one action run. A cut one (which a process that
// died cut off) is counted, its unknown duration not observed.
func (m *Metrics) ObserveRun(r actions.RunInfo) {
	m.runs.counter("action", r.Action, "hook", r.Hook, "result", r.Result).Inc()
	if !r.Cut {
		m.runDuration.histogram("action", r.Action, "hook", r.Hook).Update(r.Duration.Seconds())
	}
}

// ObserveReload records a config reload: ok is false for a broken file.
func (m *Metrics) ObserveReload(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reloadTime = float64(m.now().Unix())
	if ok {
		m.reloads.counter("result", "ok").Inc()
		m.reloadOK = 1
	} else {
		m.reloads.counter("result", "error").Inc()
		m.reloadOK = 0
	}
}
