package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2E_TemplatesAndWhen: through the real binary, a command's argument
// templates see the event's fields (.id, .hook, .event, .delivery,
// .payload, .headers by lower-case name, .query, .received) and the
// functions; a when over query, headers and delivery decides; a false one
// records the job skipped with the values it looked at, a failing one
// skipped with its error, and a key the payload lacks fails the job naming
// it, with nothing run (README, [[hook.action]]).
func TestE2E_TemplatesAndWhen(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `
[server]
listen = "127.0.0.1:0"
[store]
path = "w.db"
[admin]
listen = "127.0.0.1:0"

[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_GITHUB_SECRET"

  [[hook.action]]
  name = "render"
  when = 'event == "push" && query.env == "prod" && headers["x-custom-thing"] == "Yes" && delivery != "" && payload.n > 1'
  run = ["sh", "-c", 'printf "%s\n" "$@" > out.txt', "sh", "{{ .id }}", "{{ .hook }}", "{{ .event }}", "{{ .delivery }}", "{{ .payload.ref }}", '{{ index .headers "x-custom-thing" }}', "{{ .query.env }}", '{{ trimPrefix "refs/heads/" .payload.ref | upper }}', "{{ .received.Unix }}", '{{ printf "%.2f" .payload.n }}']

  [[hook.action]]
  name = "lacks"
  when = 'event == "release"'
  run = ["sh", "-c", "touch lacks.ran", "sh", "{{ .payload.tag }}"]
`)
	d := startDaemon(t, dir, spineEnv...)
	post := func(query, event, delivery, body, custom string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+d.addr+"/hooks/site"+query, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Custom-Thing", custom)
		req.Header.Set("X-Hub-Signature-256", githubSign(spineSecret, []byte(body)))
		r, err := do(req)
		if err != nil || r.Status != 202 {
			t.Fatalf("POST = %v %d %s; want 202", err, r.Status, r.Raw)
		}
		return fmt.Sprint(r.Body["id"])
	}
	waitJobs := func(id, want string) map[string]any {
		t.Helper()
		var ev map[string]any
		waitFor(t, 10*time.Second, id+" jobs "+want, func() bool {
			_, ev = d.apiEvent(id)
			return strings.Join(jobStates(ev), ",") == want
		})
		return ev
	}
	reason := func(ev map[string]any, i int) string {
		return fmt.Sprint(ev["jobs"].([]any)[i].(map[string]any)["reason"])
	}

	before := time.Now().Unix()
	id := post("?env=prod", "push", "del-1", `{"ref":"refs/heads/main","n":20}`, "Yes")
	waitJobs(id, "succeeded,skipped")
	b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{id, "site", "push", "del-1", "refs/heads/main", "Yes", "prod", "MAIN", "", "20.00"}
	if len(got) != len(want) {
		t.Fatalf("arguments %q; want %q", got, want)
	}
	if recv, err := strconv.ParseInt(got[8], 10, 64); err != nil || recv < before-1 || recv > time.Now().Unix()+1 {
		t.Errorf(".received.Unix = %q; want about now", got[8])
	}
	got[8] = ""
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("argument %d = %q; want %q", i, got[i], want[i])
		}
	}

	// False: skipped with the values it looked at.
	id = post("?env=staging", "push", "del-2", `{"ref":"refs/heads/main","n":20}`, "Yes")
	ev := waitJobs(id, "skipped,skipped")
	if r := reason(ev, 0); !strings.HasPrefix(r, "when is false: ") || !strings.Contains(r, `query.env is "staging"`) {
		t.Errorf("reason of a false when = %q; want the values it looked at", r)
	}
	// Failing: a whole number past 64 bits, which when cannot compare.
	id = post("?env=prod", "push", "del-3", `{"ref":"refs/heads/main","n":123456789012345678901}`, "Yes")
	ev = waitJobs(id, "skipped,skipped")
	if r := reason(ev, 0); !strings.HasPrefix(r, "when: ") {
		t.Errorf("reason of a failing when = %q; want the when error", r)
	}
	// A key the payload lacks: the job fails naming it, nothing runs.
	id = post("", "release", "del-4", `{"name":"v1"}`, "")
	ev = waitJobs(id, "skipped,dead")
	if r := reason(ev, 1); !strings.Contains(r, `"tag"`) {
		t.Errorf("reason of a missing key = %q; want it named", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "lacks.ran")); err == nil {
		t.Errorf("the command ran with a key missing")
	}
}
