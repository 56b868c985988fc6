package main

// End to end, every provider: a delivery signed as its sender signs it
// goes through the binary, is stored and runs its action; each handshake
// is answered as the provider requires.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/listener"
)

// e2eProvider is one hook of the test config and how to sign for it.
type e2eProvider struct {
	name     string
	params   string // extra TOML keys of the hook
	secret   string // "" for the public-key providers
	signKey  string // the sender's private key (discord, sendgrid)
	event    string // what Sign is told
	body     string
	stored   string // the event type webhookd must store ("" when it has none)
	delivery bool   // the delivery id is stored
}

const e2ePublicURL = "https://hooks.example.com/incoming" // where the senders think they post

func e2eProviders(t *testing.T) []e2eProvider {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	edPub := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(ec)
	json := `{"ref":"refs/heads/main","after":"c0ffee"}`
	return []e2eProvider{
		{name: "github", secret: "gh-secret", event: "push", body: json, stored: "push", delivery: true},
		{name: "gitlab", secret: "gl-token", event: "Push Hook", body: json, stored: "Push Hook", delivery: true},
		{name: "gitea", secret: "gitea-secret", event: "push", body: json, stored: "push", delivery: true},
		{name: "bitbucket", secret: "bb-secret", event: "repo:push", body: json, stored: "repo:push", delivery: true},
		{name: "stripe", secret: "whsec_stripe", event: "charge.succeeded", body: `{"object":"event","data":{}}`, stored: "charge.succeeded", delivery: true},
		{name: "slack", secret: "slack-signing", event: "app_mention", body: `{"type":"event_callback","event":{"type":"message"}}`, stored: "app_mention", delivery: true},
		{name: "shopify", secret: "shpss", event: "orders/create", body: `{"id":1}`, stored: "orders/create", delivery: true},
		{name: "standard", secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), event: "invoice.paid", body: `{"data":{}}`, stored: "invoice.paid", delivery: true},
		{name: "linear", secret: "lin-secret", event: "Issue.create", body: `{"data":{"id":"x"}}`, stored: "Issue.create", delivery: true},
		{name: "paddle", secret: "pdl_ntfset_x", event: "transaction.completed", body: `{"data":{}}`, stored: "transaction.completed", delivery: true},
		{name: "twilio", secret: "twilio-auth-token", params: `public_url = "` + e2ePublicURL + `/twilio"`, body: "CallSid=CA1&From=%2B14158675309&Body=deploy", delivery: true},
		{name: "zoom", secret: "zoom-secret", event: "meeting.started", body: `{"payload":{}}`, stored: "meeting.started"},
		{name: "twitch", secret: "twitch-secret-0123", event: "channel.follow", body: `{"subscription":{},"event":{}}`, stored: "channel.follow", delivery: true},
		{name: "discord", params: `public_key = "` + edPub + `"`, signKey: hex.EncodeToString(seed), event: "2", body: `{"type":2,"token":"t","data":{"name":"deploy"}}`, stored: "2", delivery: true},
		{name: "telegram", secret: "tg-secret", body: `{"message":{"text":"/deploy"}}`, delivery: true},
		{name: "sendgrid", params: `public_key = "` + base64.StdEncoding.EncodeToString(ecPub) + `"`, signKey: base64.StdEncoding.EncodeToString(ecPriv), body: "[{\"event\":\"delivered\"}]\r\n"},
		{name: "square", secret: "sq-signature-key", params: `public_url = "` + e2ePublicURL + `/square"`, event: "payment.created", body: `{"data":{}}`, stored: "payment.created", delivery: true},
		{name: "basic", secret: "basic-password", params: `username = "hooks"` + "\n" + `event_header = "X-Event"` + "\n" + `delivery_header = "X-Delivery"`, event: "build", body: json, stored: "build", delivery: true},
		{name: "hmac", secret: "hmac-secret", params: `header = "X-Signature"` + "\n" + `prefix = "sha256="` + "\n" + `event_header = "X-Event"` + "\n" + `delivery_header = "X-Delivery"`, event: "build", body: json, stored: "build", delivery: true},
		{name: "token", secret: "token-secret", params: `header = "X-Token"` + "\n" + `event_header = "X-Event"` + "\n" + `delivery_header = "X-Delivery"`, event: "build", body: json, stored: "build", delivery: true},
		{name: "none", params: `event_header = "X-Event"` + "\n" + `delivery_header = "X-Delivery"`, event: "build", body: json, stored: "build", delivery: true},
	}
}

// signer is the provider as the sender: the hook's own config, with the
// sender's private key where the hook has only the public one.
func (p e2eProvider) signer(t *testing.T) listener.Provider {
	t.Helper()
	c := listener.ProviderConfig{Name: p.name, PublicURL: "", Username: "hooks", EventHeader: "X-Event", DeliveryHeader: "X-Delivery"}
	if p.secret != "" {
		c.Secrets = [][]byte{[]byte(p.secret)}
	}
	for _, line := range strings.Split(p.params, "\n") {
		k, v, _ := strings.Cut(line, " = ")
		v = strings.Trim(v, `"`)
		switch k {
		case "public_url":
			c.PublicURL = v
		case "public_key":
			c.PublicKey = v
		case "header":
			c.Header = v
		case "prefix":
			c.Prefix = v
		}
	}
	if p.signKey != "" {
		c.Secrets = [][]byte{[]byte(p.signKey)}
	}
	if c.Algorithm == "" {
		c.Algorithm, c.Encoding = "sha256", "hex"
	}
	prov, err := listener.NewProvider(c)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return prov
}

// sign builds the signed request for hook path on addr.
func (p e2eProvider) sign(t *testing.T, addr, delivery string, header http.Header, body string) *http.Request {
	t.Helper()
	s := &listener.Signing{Header: header, URL: &url.URL{Path: "/hooks/" + p.name}, Body: []byte(body), Event: p.event, Delivery: delivery, Now: time.Now()}
	if err := p.signer(t).(listener.Signer).Sign(s); err != nil {
		t.Fatalf("%s: Sign: %v", p.name, err)
	}
	req, err := http.NewRequest("POST", "http://"+addr+s.URL.String(), bytes.NewReader(s.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = s.Header
	return req
}

func providersConfig(ps []e2eProvider) string {
	var b strings.Builder
	b.WriteString(`
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[store]
path = "data/webhookd.db"
[admin]
listen = "127.0.0.1:0"
[log]
level = "debug"
`)
	for _, p := range ps {
		fmt.Fprintf(&b, "\n[[hook]]\nid = %q\nprovider = %q\n", p.name, p.name)
		if p.secret != "" {
			fmt.Fprintf(&b, "secret = %q\n", p.secret)
		}
		if p.params != "" {
			b.WriteString(p.params + "\n")
		}
		b.WriteString(`  [[hook.action]]
  name = "record"
  run = ["/bin/sh", "-c", "printf '%s|%s|%s\n' \"$WEBHOOKD_HOOK\" \"$WEBHOOKD_EVENT\" \"$WEBHOOKD_DELIVERY\" >> ran.log"]
`)
	}
	return b.String()
}

// TestE2E_Providers: one signed delivery per provider is stored with its
// event type and delivery id and runs its action; a tampered one is
// refused; every handshake is answered as its provider requires and
// stores nothing.
func TestE2E_Providers(t *testing.T) {
	ps := e2eProviders(t)
	var names []string
	for _, p := range ps {
		names = append(names, p.name)
	}
	slices.Sort(names)
	if want := listener.ProviderNames(); !slices.Equal(names, want) {
		t.Fatalf("the test covers %v; the listener has %v", names, want)
	}
	if want := config.Providers(); !slices.Equal(names, want) {
		t.Fatalf("the config accepts %v; the listener has %v", want, names)
	}
	dir := t.TempDir()
	writeConfig(t, dir, providersConfig(ps))
	d := startDaemon(t, dir)

	ids := map[string]string{}
	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			delivery := "e2e-" + p.name
			if p.name == "telegram" {
				delivery = "90210"
			}
			r, err := do(p.sign(t, d.addr, delivery, http.Header{}, p.body))
			if err != nil {
				t.Fatal(err)
			}
			if p.name == "discord" {
				// Discord needs an interaction response, given once the
				// event is stored: a deferred one.
				if r.Status != 200 || r.Body["type"] != float64(5) {
					t.Fatalf("signed discord interaction = %d %s; want 200 {\"type\":5}", r.Status, r.Raw)
				}
				r.Body["id"] = latestEvent(t, d, p.name)
			} else if want := acceptStatus(p.name); r.Status != want || r.Body["jobs"] != float64(1) {
				t.Fatalf("signed %s delivery = %d %s; want %d with 1 job", p.name, r.Status, r.Raw, want)
			}
			ids[p.name] = fmt.Sprint(r.Body["id"])
			_, ev := d.apiEvent(ids[p.name])
			if ev["event"] != nil && ev["event"] != p.stored || ev["event"] == nil && p.stored != "" {
				t.Errorf("stored event type %v; want %q", ev["event"], p.stored)
			}
			if p.delivery && ev["delivery"] != delivery {
				t.Errorf("stored delivery %v; want %q", ev["delivery"], delivery)
			}
			if p.name != "none" {
				// The same request with its body changed is refused.
				req := p.sign(t, d.addr, delivery+"-bad", http.Header{}, p.body)
				b := []byte(p.body)
				if p.name == "telegram" || p.name == "basic" || p.name == "token" || p.name == "gitlab" {
					req.Header = req.Header.Clone() // a token: spoil the token instead
					for _, h := range []string{"X-Gitlab-Token", "X-Telegram-Bot-Api-Secret-Token", "X-Token"} {
						if req.Header.Get(h) != "" {
							req.Header.Set(h, req.Header.Get(h)+"x")
						}
					}
					if p.name == "basic" {
						req.SetBasicAuth("hooks", "wrong")
					}
				} else {
					b = bytes.Replace(b, []byte("{"), []byte("{ "), 1)
					if p.name == "twilio" {
						b = []byte(strings.Replace(p.body, "deploy", "destroy", 1))
					}
				}
				req.Body = ioNopCloser(b)
				req.ContentLength = int64(len(b))
				if r, err := do(req); err != nil || r.Status != 401 {
					t.Errorf("tampered %s delivery = %d %s (%v); want 401", p.name, r.Status, r.Raw, err)
				}
			}
		})
	}

	// Every stored delivery ran its action once, with its event and delivery.
	ranLog := filepath.Join(dir, "ran.log")
	waitFor(t, 20*time.Second, "every action to run", func() bool { return len(readFileLines(t, ranLog)) >= len(ps) })
	got := readFileLines(t, ranLog)
	slices.Sort(got)
	var want []string
	for _, p := range ps {
		delivery := ""
		if p.delivery {
			delivery = "e2e-" + p.name
			if p.name == "telegram" {
				delivery = "90210"
			}
		}
		want = append(want, p.name+"|"+p.stored+"|"+delivery)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("actions ran as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("handshakes", func(t *testing.T) { testHandshakes(t, d, ps) })

	time.Sleep(200 * time.Millisecond)
	if n := len(readFileLines(t, ranLog)); n != len(ps) {
		t.Errorf("%d action runs; want %d: a handshake or a refused delivery ran an action", n, len(ps))
	}
	for _, secret := range []string{"gl-token", "tg-secret", "token-secret", "basic-password"} {
		if strings.Contains(d.log.String(), secret) {
			t.Errorf("the daemon's log shows the secret %q", secret)
		}
	}
}

func testHandshakes(t *testing.T, d *proc, ps []e2eProvider) {
	byName := map[string]e2eProvider{}
	for _, p := range ps {
		byName[p.name] = p
	}
	tests := []struct {
		provider string
		body     string
		header   http.Header
		status   int
		ctype    string
		want     string // the exact body; for JSON, compared as JSON
	}{
		{"slack", `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595","type":"url_verification"}`, http.Header{},
			200, "application/json", `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595"}`},
		{"zoom", `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`, http.Header{},
			200, "application/json", `{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"` + hmacHex("zoom-secret", "qgg8vlvZRS6UYooatFL8Aw") + `"}`},
		{"twitch", `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}`, http.Header{"Twitch-Eventsub-Message-Type": {"webhook_callback_verification"}},
			200, "text/plain", "pogchamp-kappa-360noscope-vohiyo"},
		{"discord", `{"id":"1","application_id":"2","type":1,"token":"t","version":1}`, http.Header{},
			200, "application/json", `{"type":1}`},
		{"discord", `{"version":1,"application_id":"2","type":0}`, http.Header{}, 204, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			p := byName[tc.provider]
			p.event = "" // a handshake is the body as it is
			r, err := do(p.sign(t, d.addr, "hs-"+tc.provider, tc.header, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%s handshake = %d %q %s; want %d %s", tc.provider, r.Status, r.Header.Get("Content-Type"), r.Raw, tc.status, tc.ctype)
			}
			if tc.ctype == "application/json" {
				var got, want any
				json.Unmarshal([]byte(r.Raw), &got)
				json.Unmarshal([]byte(tc.want), &want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s handshake body %s; want %s", tc.provider, r.Raw, tc.want)
				}
			} else if r.Raw != tc.want {
				t.Errorf("%s handshake body %q; want %q", tc.provider, r.Raw, tc.want)
			}
			// Unsigned, the handshake is refused: it proves the secret.
			req := p.sign(t, d.addr, "hs2-"+tc.provider, tc.header.Clone(), tc.body)
			for _, h := range []string{"X-Slack-Signature", "X-Zm-Signature", "Twitch-Eventsub-Message-Signature", "X-Signature-Ed25519"} {
				req.Header.Del(h)
			}
			if r, err := do(req); err != nil || r.Status != 401 {
				t.Errorf("unsigned %s handshake = %d %s; want 401", tc.provider, r.Status, r.Raw)
			}
		})
	}
}

// TestE2E_CheckPublicKey: a public_key that is not a key is a config error
// with its line, from `webhookd check` as from serve.
func TestE2E_CheckPublicKey(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, `
[[hook]]
id = "bot"
provider = "discord"
public_key = "not-hex"
`)
	out, err := exec.Command(binPath, "check", "-config", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "webhookd.toml:5:") || !strings.Contains(string(out), "public_key") {
		t.Errorf("check of a bad discord public_key: %v\n%s\nwant an error at line 5 naming public_key", err, out)
	}
}

func hmacHex(key, msg string) string {
	return hex.EncodeToString(hmacSHA256([]byte(key), []byte(msg)))
}

func readFileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func ioNopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// latestEvent returns the id of hook's newest event, from the admin API.
func latestEvent(t *testing.T, d *proc, hook string) string {
	t.Helper()
	res, err := httpClient.Get("http://" + d.admin + "/api/events?limit=1&hook=" + hook)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.Events) == 0 {
		t.Fatalf("GET /api/events?hook=%s: %v %+v", hook, err, page)
	}
	return page.Events[0].ID
}

// acceptStatus is the answer to a stored delivery of provider name: 202,
// but 200 for Zoom, which counts only 200 and 204 as delivered.
func acceptStatus(name string) int {
	if name == "zoom" {
		return http.StatusOK
	}
	return http.StatusAccepted
}
