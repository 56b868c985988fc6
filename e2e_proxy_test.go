package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2E_HTTPActionProxyFromEnvironment: an HTTP action's request goes
// through the proxy that HTTP_PROXY (for http://) and HTTPS_PROXY (for
// https://, as a CONNECT) in webhookd's environment name, except to a
// host that NO_PROXY names. No name here is looked up: the daemon
// connects to the proxy, or, for 0.0.0.0 (which is not loopback to the
// proxy rules, but is this machine to connect(2)), to the server itself.
func TestE2E_HTTPActionProxyFromEnvironment(t *testing.T) {
	var mu sync.Mutex
	var proxied, direct []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.RequestURI)
		mu.Unlock()
		if r.Method == http.MethodConnect {
			w.WriteHeader(http.StatusForbidden) // the test goes no further
			return
		}
		w.Write([]byte("via the proxy"))
	}))
	defer proxy.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		direct = append(direct, r.Method+" "+r.RequestURI)
		mu.Unlock()
		w.Write([]byte("direct"))
	}))
	defer target.Close()
	port := target.URL[strings.LastIndexByte(target.URL, ':')+1:]

	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "plain"
  url = "http://relay.example/in?x=1"
  retries = 0

  [[hook.action]]
  name = "secure"
  url = "https://secure.example/in"
  retries = 0

  [[hook.action]]
  name = "direct"
  url = "http://0.0.0.0:`+port+`/direct"
  retries = 0
`))
	d := startDaemon(t, dir, "HTTP_PROXY="+proxy.URL, "HTTPS_PROXY="+proxy.URL, "NO_PROXY=0.0.0.0")
	r := d.postGitHub("/hooks/site", spineSecret, "push", "p-1", pushBody("refs/heads/main", "a"))
	if r.Status != 202 {
		t.Fatalf("push = %d %s", r.Status, r.Raw)
	}
	id := fmt.Sprint(r.Body["id"])
	var jobs map[string]map[string]any
	waitFor(t, 20*time.Second, "the three jobs to end", func() bool {
		jobs = map[string]map[string]any{}
		for _, j := range eventJobs(d, id) {
			switch j["state"] {
			case "succeeded", "dead":
				jobs[fmt.Sprint(j["action"])] = j
			}
		}
		return len(jobs) == 3
	})
	for action, want := range map[string]string{"plain": "succeeded", "secure": "dead", "direct": "succeeded"} {
		if got := jobs[action]["state"]; got != want {
			t.Errorf("%s: %v (%v); want %s", action, got, jobs[action]["reason"], want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	wantProxied := []string{"CONNECT secure.example:443", "POST http://relay.example/in?x=1"}
	slices.Sort(proxied)
	if strings.Join(proxied, ",") != strings.Join(wantProxied, ",") {
		t.Errorf("the proxy got %q; want %q", proxied, wantProxied)
	}
	if strings.Join(direct, ",") != "POST /direct" {
		t.Errorf("the server named in NO_PROXY got %q; want the direct action's request", direct)
	}
}
