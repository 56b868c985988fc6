package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2E_ReloadLimits: README, Reloading: max_body, trusted_proxies,
// rate_limit and shutdown_timeout apply on reload, with no restart
// needed. After one save: a body over the new max_body is 413; a client
// named by X-Forwarded-For from the newly trusted proxy passes the hook's
// allow_ips; the new rate limit answers 429 with Retry-After; the stop
// waits the new shutdown_timeout.
func TestE2E_ReloadLimits(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "\nallow_ips = [\"10.0.0.0/8\", \"127.0.0.1/32\"]\n", "site"))
	d := startDaemon(t, dir, reloadEnv...)
	post := func(size int, xff string) reply {
		t.Helper()
		n := deliveries.Add(1)
		body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","pad":%q}`, strings.Repeat("p", size)))
		req, _ := http.NewRequest("POST", "http://"+d.addr+"/hooks/site", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("lim-%d", n))
		req.Header.Set("X-Hub-Signature-256", githubSign(reloadSecret, body))
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		r, err := do(req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := post(2048, ""); r.Status != 202 {
		t.Fatalf("2 KiB body under the default max_body = %d %s; want 202", r.Status, r.Raw)
	}
	if r := post(10, "10.1.2.3"); r.Status != 202 {
		t.Fatalf("from 127.0.0.1, not a trusted proxy = %d %s; want 202 (X-Forwarded-For not believed)", r.Status, r.Raw)
	}

	cfg := strings.Replace(hooksConfig("", "\nallow_ips = [\"10.0.0.0/8\"]\n", "site"), `shutdown_timeout = "5s"`,
		`shutdown_timeout = "2s"
max_body = "1KiB"
rate_limit = 1
trusted_proxies = ["127.0.0.1/32"]`, 1)
	saveRename(t, d.config, cfg)
	waitFor(t, 5*time.Second, "the reload", func() bool { return d.reloads("ok") == 1 })

	if r := post(2048, "10.1.2.3"); r.Status != 413 {
		t.Errorf("2 KiB body after max_body = 1KiB = %d %s; want 413", r.Status, r.Raw)
	}
	if r := post(10, "10.1.2.4"); r.Status != 202 {
		t.Errorf("client 10.1.2.4 via the trusted proxy = %d %s; want 202 (allow_ips 10.0.0.0/8)", r.Status, r.Raw)
	}
	if r := post(10, ""); r.Status != 403 {
		t.Errorf("127.0.0.1 itself, out of allow_ips now = %d %s; want 403", r.Status, r.Raw)
	}
	// rate_limit = 1 (burst 2) for client 10.1.2.5: within a few quick
	// requests, a 429.
	var limited reply
	for range 6 {
		if r := post(10, "10.1.2.5"); r.Status == 429 {
			limited = r
			break
		}
	}
	if limited.Status != 429 || limited.Header.Get("Retry-After") == "" {
		t.Errorf("six quick requests at rate_limit = 1: no 429 with Retry-After (last %d %q)", limited.Status, limited.Header.Get("Retry-After"))
	}
	if st := d.apiStatus(); st["restart_needed"] != nil || st["last_reload"] != "ok" {
		t.Errorf("status = %v; want the reload ok and no restart needed", st)
	}
	if err := d.stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if !strings.Contains(d.log.String(), "msg=stopping shutdown_timeout=2s") {
		t.Errorf("the stop did not use the reloaded shutdown_timeout (2s)\n%s", d.log)
	}
}
