package admin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// Metrics are webhookd's Prometheus metrics, on their own registry (no
// global state). The daemon feeds them through the Observe methods; the
// queue gauges are read from the store's counters at scrape time.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	ingestLatency   prometheus.Histogram
	verifyFailures  *prometheus.CounterVec
	commits         *prometheus.CounterVec
	commitLatency   prometheus.Histogram
	eventsPerCommit prometheus.Histogram
	runs            *prometheus.CounterVec
	runDuration     *prometheus.HistogramVec
	reloads         *prometheus.CounterVec
	reloadOK        prometheus.Gauge
	reloadTime      prometheus.Gauge
}

// NewMetrics registers every metric. st is read at scrape time for job
// counts by state, the oldest queued job's age and the database size.
func NewMetrics(st *store.Store, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_requests_total", Help: "Requests to the public listener, by hook and status.",
		}, []string{"hook", "status"}),
		ingestLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhookd_ingest_seconds", Help: "Time from a delivery's arrival to its answer, for stored events.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_verification_failures_total", Help: "Refused deliveries, by hook and the check that failed.",
		}, []string{"hook", "check"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_store_commits_total", Help: "Store commits, by result.",
		}, []string{"result"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhookd_store_commit_seconds", Help: "Time of one store commit, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		eventsPerCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhookd_store_events_per_commit", Help: "Events written by one commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_action_runs_total", Help: "Action runs, by hook, action and result.",
		}, []string{"hook", "action", "result"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "webhookd_action_run_seconds", Help: "Duration of action runs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"hook", "action"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_config_reloads_total", Help: "Config reloads, by result (ok or error).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_config_last_reload_successful", Help: "1 when the config file loaded at the last reload (or at the start), 0 while it is broken.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_config_last_reload_timestamp_seconds", Help: "When the config was last reloaded (or loaded at the start), as a Unix time.",
		}),
	}
	m.reg.MustRegister(m.requests, m.ingestLatency, m.verifyFailures, m.commits, m.commitLatency,
		m.eventsPerCommit, m.runs, m.runDuration, m.reloads, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{st: st, now: now})
	// Results that have not happened yet still show, as 0.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.reloadOK.Set(1) // the daemon starts only on a good config
	m.reloadTime.Set(float64(now().Unix()))
	return m
}

// Registry is what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one request to the public listener.
func (m *Metrics) ObserveRequest(r listener.RequestInfo) {
	m.requests.WithLabelValues(r.Hook, strconv.Itoa(r.Status)).Inc()
	if r.EventID != "" {
		m.ingestLatency.Observe(r.Duration.Seconds())
	}
	if r.Status == 401 && r.Check != "" {
		m.verifyFailures.WithLabelValues(r.Hook, r.Check).Inc()
	}
}

// ObserveCommit records one store commit.
func (m *Metrics) ObserveCommit(c store.CommitInfo) {
	if c.Err != nil {
		m.commits.WithLabelValues("error").Inc()
		return
	}
	m.commits.WithLabelValues("ok").Inc()
	m.commitLatency.Observe(c.Duration.Seconds())
	if c.Events > 0 {
		m.eventsPerCommit.Observe(float64(c.Events))
	}
}

// ObserveRun records one action run.
func (m *Metrics) ObserveRun(r actions.RunInfo) {
	m.runs.WithLabelValues(r.Hook, r.Action, r.Result).Inc()
	m.runDuration.WithLabelValues(r.Hook, r.Action).Observe(r.Duration.Seconds())
}

// ObserveReload records a config reload: ok is false for a broken file.
func (m *Metrics) ObserveReload(ok bool) {
	m.reloadTime.SetToCurrentTime()
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.reloadOK.Set(1)
	} else {
		m.reloads.WithLabelValues("error").Inc()
		m.reloadOK.Set(0)
	}
}

// storeCollector reads the store's counters at scrape time.
type storeCollector struct {
	st  *store.Store
	now func() time.Time
}

var (
	descJobs   = prometheus.NewDesc("webhookd_jobs", "Jobs in the store, by state.", []string{"state"}, nil)
	descOldest = prometheus.NewDesc("webhookd_oldest_queued_job_age_seconds", "Age of the oldest pending or failed job (0 if none).", nil, nil)
	descEvents = prometheus.NewDesc("webhookd_events", "Events in the store.", nil, nil)
	descSize   = prometheus.NewDesc("webhookd_database_bytes", "Size of the database file.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descOldest
	ch <- descEvents
	ch <- descSize
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.st.Stats()
	if err != nil {
		return
	}
	for _, st := range store.States {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(s.Jobs[st]), string(st))
	}
	age := 0.0
	if s.OldestQueue != "" {
		age = max(0, c.now().Sub(store.IDTime(s.OldestQueue)).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(s.Events))
	ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(s.FileSize))
}
