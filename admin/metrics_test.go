package admin

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
)

func TestSeries(t *testing.T) {
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{nil, `m`},
		{[]string{"a", "x"}, `m{a="x"}`},
		{[]string{"a", `q"b\c` + "\n", "b", "y"}, `m{a="q\"b\\c\n",b="y"}`},
	} {
		if got := series("m", tc.labels...); got != tc.want {
			t.Errorf("series(m, %q) = %s; want %s", tc.labels, got, tc.want)
		}
	}
}

// TestMetrics_LongRunsInFiniteBuckets: a run as long as the default
// command timeout (10m), and a delivery as slow as a sender waits for
// (GitHub: 10s), land in a bucket below +Inf, so that histogram_quantile
// reports their duration rather than the largest bucket's bound.
func TestMetrics_LongRunsInFiniteBuckets(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	m := e.srv.opts.Metrics
	run := 8 * time.Minute
	m.ObserveRun(actions.RunInfo{Hook: "site", Action: "deploy", Result: "succeeded", Duration: run})
	ingest := 9 * time.Second
	m.ObserveRequest(listener.RequestInfo{Hook: "site", Status: 202, Duration: ingest, EventID: "x"})
	_, body := e.call("GET", "/metrics", "", nil)
	for _, tc := range []struct {
		name   string
		prefix string
		took   time.Duration
	}{
		{"run", `webhookd_action_run_seconds_bucket{action="deploy",hook="site",le="`, run},
		{"ingest", `webhookd_ingest_seconds_bucket{le="`, ingest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := "" // the first bucket that counts the observation
			for _, line := range strings.Split(body, "\n") {
				rest, ok := strings.CutPrefix(line, tc.prefix)
				if !ok {
					continue
				}
				le, count, _ := strings.Cut(rest, `"} `)
				if count == "1" {
					first = le
					break
				}
			}
			if first == "" || first == "+Inf" {
				t.Errorf("a %v observation is first counted by le=%q; want a finite bucket\n%s", tc.took, first, body)
				return
			}
			bound, err := strconv.ParseFloat(first, 64)
			if err != nil || bound < tc.took.Seconds() {
				t.Errorf("a %v observation is first counted by le=%q, which is below it", tc.took, first)
			}
		})
	}
}
