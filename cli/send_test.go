package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/wire"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// sendSetup is a provider's hook settings for the send test: extra TOML
// lines (%URL% is the listener's URL), the secret, and whether the
// provider can sign at all (some sign with a key only the sender has).
type sendSetup struct {
	extra   string
	secret  string
	cannot  bool
	noEvent bool // the provider has no event type
}

func sendSetups(t *testing.T) map[string]sendSetup {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return map[string]sendSetup{
		"hmac":     {extra: `header = "X-Signature"` + "\n" + `prefix = "sha256="` + "\n" + `event_header = "X-Event"`},
		"token":    {extra: `header = "X-Token"` + "\n" + `event_header = "X-Event"`},
		"basic":    {extra: `username = "hooks"` + "\n" + `event_header = "X-Event"`},
		"none":     {extra: `event_header = "X-Event"` + "\n" + `delivery_header = "X-Delivery"`, secret: "-"},
		"twilio":   {extra: `public_url = "%URL%/hooks/h"`, noEvent: true},
		"square":   {extra: `public_url = "%URL%/hooks/h"`},
		"telegram": {noEvent: true},
		"stripe":   {secret: "whsec_test_0123456789"},
		"standard": {secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))},
		"discord":  {extra: `public_key = "` + strings.Repeat("ab", 32) + `"`, secret: "-", cannot: true},
		"sendgrid": {extra: `public_key = "` + base64.StdEncoding.EncodeToString(der) + `"`, secret: "-", cannot: true},
	}
}

// TestSend_EveryProvider sends a delivery with `webhookd send` to the real
// listener, set up from the same config file, for every provider the
// listener has: the listener must verify it and store it (202).
func TestSend_EveryProvider(t *testing.T) {
	setups := sendSetups(t)
	for _, name := range listener.ProviderNames() {
		t.Run(name, func(t *testing.T) {
			su, known := setups[name]
			secret := su.secret
			switch secret {
			case "":
				secret = "s3cr3t-for-" + name
			case "-":
				secret = ""
			}
			st, lis, ts := sendServer(t)

			dir := t.TempDir()
			cfgText := fmt.Sprintf("[server]\nlisten = %q\n[[hook]]\nid = \"h\"\nprovider = %q\n%s\n",
				ts.Listener.Addr().String(), name, strings.ReplaceAll(su.extra, "%URL%", ts.URL))
			if secret != "" {
				cfgText += fmt.Sprintf("secret = %q\n", secret)
			}
			path := filepath.Join(dir, "webhookd.toml")
			os.WriteFile(path, []byte(cfgText), 0o600)
			cfg, err := config.LoadClient(path)
			if err != nil {
				t.Fatal(err)
			}
			h := cfg.Hook("h")
			secrets, _ := h.Secrets()
			p, err := listener.NewProvider(wire.ProviderConfig(h.Provider, h.Params, secrets))
			if err != nil {
				if known {
					t.Fatalf("provider %s: %v", name, err)
				}
				t.Skipf("provider %s is new to this test and needs settings it lacks: %v", name, err)
			}
			lis.SetConfig(&listener.Config{Hooks: []*listener.Hook{{ID: "h", Path: "/hooks/h", Provider: p, MaxBody: 1 << 20}}})

			var stdout, stderr bytes.Buffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			err = cmdSend().Run(context.Background(), env, []string{"-config", path, "-event", "push", "-delivery", "d-1", "h", `{"ref":"refs/heads/main","after":"abc"}`})
			if secret != "" && strings.Contains(stdout.String()+stderr.String(), secret) {
				t.Errorf("send printed the secret:\n%s%s", stdout.String(), stderr.String())
			}
			if su.cannot {
				if err == nil {
					t.Fatalf("send with %s succeeded; it cannot sign without the sender's key", name)
				}
				t.Logf("as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("send: %v\nstdout: %s\nstderr: %s\nrejections: %+v", err, stdout.String(), stderr.String(), lis.Rejections())
			}
			want := "202 Accepted"
			if name == "zoom" {
				want = "200 OK" // Zoom counts only 200 and 204 as delivered
			}
			if !strings.Contains(stdout.String(), want) {
				t.Fatalf("answer = %s", stdout.String())
			}
			evs, _, err := st.ListEvents(store.EventFilter{})
			if err != nil || len(evs) != 1 {
				t.Fatalf("stored events = %d, %v; want 1", len(evs), err)
			}
			if !su.noEvent && evs[0].Type == "" {
				t.Errorf("stored event has no type; want the one sent")
			}
			// The first line says the event type the listener stored.
			said := "no event type"
			if evs[0].Type != "" {
				said = fmt.Sprintf("event %q", evs[0].Type)
			}
			if !strings.Contains(stderr.String(), "("+name+", "+said+", ") {
				t.Errorf("send said %q; want it to say %s, as stored", stderr.String(), said)
			}
			t.Logf("stored: type %q, delivery %q", evs[0].Type, evs[0].Delivery)
		})
	}
}

func TestSend_Errors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	os.WriteFile(path, []byte("[[hook]]\nid = \"site\"\nprovider = \"github\"\nsecret = \"env:WEBHOOKD_SEND_TEST_UNSET\"\n"), 0o600)
	os.Unsetenv("WEBHOOKD_SEND_TEST_UNSET")
	run := func(stdin string, args ...string) error {
		env := &Env{Stdin: strings.NewReader(stdin), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		return cmdSend().Run(context.Background(), env, append([]string{"-config", path}, args...))
	}
	if err := run("", "nope", "{}"); err == nil || !strings.Contains(err.Error(), `no hook "nope"`) || !strings.Contains(err.Error(), "site") {
		t.Errorf("unknown hook: %v", err)
	}
	if err := run("", "site", "{}"); err == nil || !strings.Contains(err.Error(), "WEBHOOKD_SEND_TEST_UNSET") {
		t.Errorf("unset secret: %v; want it named", err)
	}
	var ue *UsageError
	if err := run(""); err == nil || !asUsage(err, &ue) {
		t.Errorf("no hook: %v; want a usage error", err)
	}
	if err := run("", "-url", "ftp://x", "site", "{}"); err == nil {
		t.Error("-url ftp://x: no error")
	}
	// A hook that takes its token in the query: an error reaching it does
	// not show the token.
	os.WriteFile(path, []byte("[[hook]]\nid = \"tq\"\nprovider = \"token\"\nsecret = \"TQSECRETVALUE\"\n"), 0o600)
	err := run("", "-url", "http://127.0.0.1:1/hooks/tq", "tq", "{}")
	if err == nil || strings.Contains(err.Error(), "TQSECRETVALUE") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("send to a closed port: %v; want an error naming the URL without the token", err)
	}
}

func asUsage(err error, ue **UsageError) bool {
	u, ok := err.(*UsageError)
	*ue = u
	return ok
}

func TestHookURL(t *testing.T) {
	h := &config.ClientHook{ID: "site", Path: "/hooks/site"}
	tests := []struct {
		cfg  config.Client
		want string
	}{
		{config.Client{ServerListen: ":9000"}, "http://127.0.0.1:9000/hooks/site"},
		{config.Client{ServerListen: "0.0.0.0:9000"}, "http://127.0.0.1:9000/hooks/site"},
		{config.Client{ServerListen: "[::]:9000"}, "http://[::1]:9000/hooks/site"},
		{config.Client{ServerListen: "192.0.2.5:8080"}, "http://192.0.2.5:8080/hooks/site"},
		{config.Client{ServerListen: ":8443", TLS: true}, "https://localhost:8443/hooks/site"},
		{config.Client{ServerListen: ":443", TLS: true, ACMEDomains: []string{"hooks.example.com"}}, "https://hooks.example.com/hooks/site"},
		{config.Client{ServerListen: ":8443", TLS: true, ACMEDomains: []string{"hooks.example.com"}}, "https://hooks.example.com:8443/hooks/site"},
	}
	for _, tc := range tests {
		u, err := hookURL(&tc.cfg, h, "")
		if err != nil || u.String() != tc.want {
			t.Errorf("hookURL(%+v) = %v, %v; want %s", tc.cfg, u, err, tc.want)
		}
	}
	u, _ := hookURL(&config.Client{ServerListen: ":9000"}, h, "https://relay.example/in")
	if u.String() != "https://relay.example/in" {
		t.Errorf("-url: %v", u)
	}
}

func TestContentType(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1}`:        "application/json",
		`payload=%7B%7D`: "application/x-www-form-urlencoded",
		"hello there":    "text/plain; charset=utf-8",
	} {
		if got := contentType("", []byte(body)); got != want {
			t.Errorf("contentType(%q) = %q; want %q", body, got, want)
		}
	}
	if got := contentType("text/xml", []byte(`{}`)); got != "text/xml" {
		t.Errorf("given type: %q", got)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-04-30T10:00:00Z": time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC),
		"24h":                  now.Add(-24 * time.Hour),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-04-30":           time.Date(2026, 4, 30, 0, 0, 0, 0, time.Local),
		"2026-04-30 15:04":     time.Date(2026, 4, 30, 15, 4, 0, 0, time.Local),
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5h", "2026-13-01"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q): no error", bad)
		}
	}
}

func TestParseArgs(t *testing.T) {
	env := &Env{Stderr: &bytes.Buffer{}}
	fs := newFlags(env, &Command{Name: "replay"})
	action := fs.String("action", "", "")
	dry := fs.Bool("dry-run", false, "")
	pos, err := parseArgs(fs, []string{"ID1", "-action", "deploy", "-dry-run", "--", "-x"})
	if err != nil || fmt.Sprint(pos) != "[ID1 -x]" || *action != "deploy" || !*dry {
		t.Errorf("parseArgs = %v, %v (action %q, dry %v)", pos, err, *action, *dry)
	}
	if _, err := parseArgs(fs, []string{"-nope"}); err == nil {
		t.Error("unknown flag: no error")
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, label: "replaying", width: 10, now: time.Now}
	p.setTotal(4)
	p.step()
	p.step()
	if got := p.line(); got != "replaying [#####.....] 2/4 50%" {
		t.Errorf("line = %q", got)
	}
	p.step()
	p.step()
	p.finish()
	if !strings.Contains(b.String(), "\rreplaying [##########] 4/4 100%\033[K") || !strings.HasSuffix(b.String(), "\n") {
		t.Errorf("drawn = %q", b.String())
	}
	// Counted in bytes, as backup and compact count: fed through Write.
	var bb bytes.Buffer
	bp := &progress{w: &bb, label: "backup", bytes: true, width: 10, now: time.Now}
	bp.setTotal(2 << 20)
	bp.Write(make([]byte, 1<<20))
	if got := bp.line(); got != "backup [#####.....] 1.0 MiB/2.0 MiB 50%" {
		t.Errorf("byte line = %q", got)
	}
	bp.Write(make([]byte, 1<<20))
	bp.finish()
	if !strings.Contains(bb.String(), "2.0 MiB/2.0 MiB 100%") {
		t.Errorf("byte progress drawn = %q", bb.String())
	}
	// Not a terminal: nothing is drawn.
	var quiet bytes.Buffer
	q := newProgress(&quiet, "replaying")
	q.setTotal(3)
	q.step()
	q.finish()
	if quiet.Len() != 0 {
		t.Errorf("progress on a non-terminal wrote %q", quiet.String())
	}
}

// TestSend_BodySources sends the body from the argument, a file (@FILE)
// and stdin, to a receiver that records what arrived.
func TestSend_BodySources(t *testing.T) {
	got := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Header.Get("Content-Type") + " " + string(b)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"x","jobs":0}`)
	}))
	defer ts.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	os.WriteFile(path, []byte("[[hook]]\nid = \"h\"\nprovider = \"none\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"from":"file"}`), 0o600)
	for _, tc := range []struct {
		name, stdin, payload, want string
	}{
		{"argument", "", "a=1&b=2", "application/x-www-form-urlencoded a=1&b=2"},
		{"file", "", "@" + filepath.Join(dir, "body.json"), `application/json {"from":"file"}`},
		{"stdin", `{"from":"stdin"}`, "", `application/json {"from":"stdin"}`},
		{"stdin dash", "plain words", "-", "text/plain; charset=utf-8 plain words"},
	} {
		var stdout bytes.Buffer
		env := &Env{Stdin: strings.NewReader(tc.stdin), Stdout: &stdout, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		args := []string{"-config", path, "-url", ts.URL + "/in", "h"}
		if tc.payload != "" {
			args = append(args, tc.payload)
		}
		if err := cmdSend().Run(context.Background(), env, args); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if g := <-got; g != tc.want {
			t.Errorf("%s: received %q; want %q", tc.name, g, tc.want)
		}
		if !strings.Contains(stdout.String(), "202 Accepted") || !strings.Contains(stdout.String(), `{"id":"x"`) {
			t.Errorf("%s: printed %q", tc.name, stdout.String())
		}
	}
}

// TestSend_BodyType: without -event, a body that names its own type (a
// Stripe sample payload) is sent as that type, not turned into "test".
func TestSend_BodyType(t *testing.T) {
	st, lis, ts := sendServer(t)
	path := filepath.Join(t.TempDir(), "webhookd.toml")
	os.WriteFile(path, []byte(fmt.Sprintf("[server]\nlisten = %q\n[[hook]]\nid = \"pay\"\nprovider = \"stripe\"\nsecret = \"whsec_test\"\n", ts.Listener.Addr().String())), 0o600)
	cfg, err := config.LoadClient(path)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Hook("pay")
	secrets, _ := h.Secrets()
	p, err := listener.NewProvider(wire.ProviderConfig(h.Provider, h.Params, secrets))
	if err != nil {
		t.Fatal(err)
	}
	lis.SetConfig(&listener.Config{Hooks: []*listener.Hook{{ID: "pay", Path: "/hooks/pay", Provider: p, MaxBody: 1 << 20}}})
	var stdout, stderr bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if err := cmdSend().Run(context.Background(), env, []string{"-config", path, "pay", `{"id":"evt_1","object":"event","type":"checkout.session.completed"}`}); err != nil {
		t.Fatalf("send: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	evs, _, err := st.ListEvents(store.EventFilter{})
	if err != nil || len(evs) != 1 || evs[0].Type != "checkout.session.completed" {
		t.Fatalf("stored %d events (%v), type %q; want checkout.session.completed", len(evs), err, evs[0].Type)
	}
}

// sendServer serves webhookd's listener, with no hooks yet, over a fresh
// store; both go at the end of the test.
func sendServer(t *testing.T) (*store.Store, *listener.Listener, *httptest.Server) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lis := listener.New(listener.Options{Store: st}, nil)
	ts := httptest.NewServer(lis)
	t.Cleanup(ts.Close)
	return st, lis, ts
}

// A secret (or admin token) from an env: variable that this shell lacks:
// the error says to set it here. It said to restart webhookd, which is
// the advice for the daemon's own environment and does nothing for a
// command's.
func TestSend_UnsetSecretSaysSetItHere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	os.WriteFile(path, []byte("[admin]\ntoken = \"env:WEBHOOKD_SEND_TEST_UNSET_TOKEN\"\n[[hook]]\nid = \"site\"\nprovider = \"github\"\nsecret = \"env:WEBHOOKD_SEND_TEST_UNSET\"\n"), 0o600)
	os.Unsetenv("WEBHOOKD_SEND_TEST_UNSET")
	os.Unsetenv("WEBHOOKD_SEND_TEST_UNSET_TOKEN")
	_, _, err := runCmd(t, "send", "-config", path, "site", "{}")
	if err == nil || strings.Contains(err.Error(), "restart") || !strings.Contains(err.Error(), "in this shell") {
		t.Errorf("send, secret unset: %v; want it to say to set it in this shell", err)
	}
	cfg, err := config.LoadClient(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.AdminToken(); err == nil || strings.Contains(err.Error(), "restart") || !strings.Contains(err.Error(), "in this shell") {
		t.Errorf("admin token unset: %v; want it to say to set it in this shell", err)
	}
}

// A send that finds nothing listening at the config's own listener says
// that webhookd is not running there, which is what to look at.
func TestSend_RefusedSaysNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	os.WriteFile(path, fmt.Appendf(nil, "[server]\nlisten = %q\n[[hook]]\nid = \"site\"\nprovider = \"github\"\nsecret = \"s\"\n", addr), 0o600)
	_, _, err = runCmd(t, "send", "-config", path, "site", "{}")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "is webhookd running") {
		t.Errorf("send to a closed listener: %v; want it to ask whether webhookd runs", err)
	}
}

// A listener that does not answer within -timeout: the error says that,
// with the time waited and that the delivery may have been stored anyway
// (it said "context deadline exceeded"). A -timeout that cannot wait at
// all is a usage error, and nothing is sent.
func TestSend_Timeout(t *testing.T) {
	hit := make(chan struct{}, 10)
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	os.WriteFile(path, []byte("[[hook]]\nid = \"site\"\nprovider = \"github\"\nsecret = \"s\"\n"), 0o600)

	_, _, err := runCmd(t, "send", "-config", path, "-timeout", "200ms", "-url", ts.URL+"/hooks/site", "site", "{}")
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") || !strings.Contains(err.Error(), "may") {
		t.Errorf("send to a listener that does not answer: %v; want it to say no answer came within 200ms, and that it may be stored", err)
	}
	for _, d := range []string{"0s", "-1s"} {
		_, _, err := runCmd(t, "send", "-config", path, "-timeout", d, "-url", ts.URL+"/hooks/site", "site", "{}")
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-timeout") {
			t.Errorf("send -timeout %s: %v; want a usage error naming -timeout", d, err)
		}
	}
	if n := len(hit); n != 1 {
		t.Errorf("the listener got %d requests; want 1 (none for a -timeout refused)", n)
	}
}
