package listener

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// Two files of vectors:
//
//   - testdata/signature-vectors.json, a copy of the team's shared file:
//     published vectors name their source (a provider's documentation or an
//     official SDK's tests), derived negatives the published vector they
//     change. It covers github, standard (Standard Webhooks), slack,
//     twilio, sendgrid, square and paddle.
//   - testdata/computed-vectors.json, made by
//     testdata/computed-vectors.py for the providers that publish no
//     vector: gitlab, gitea, bitbucket, stripe, shopify, linear, zoom,
//     twitch, discord, telegram and basic (and webhookd's own hmac and
//     token). The script computes each from the provider's documented
//     algorithm with Python's hmac and cryptography packages, sharing no
//     code with webhookd; it also gives the event type, delivery id and
//     handshake answer webhookd must produce.
//
// Every provider but none is covered by one of them (TestVectorCoverage).

type vector struct {
	ID            string            `json:"id"`
	Provider      string            `json:"provider"`
	Origin        string            `json:"origin"`
	Secret        *string           `json:"secret"`
	Body          string            `json:"body"`
	Headers       map[string]string `json:"headers"`
	Now           int64             `json:"now"`
	ExpectedValid bool              `json:"expected_valid"`
	Source        string            `json:"source"`
	DerivedFrom   string            `json:"derived_from"`
	URL           string            `json:"url"`
	PublicKey     string            `json:"public_key"`
	FormParams    [][2]string       `json:"form_params"`
	Tolerance     int64             `json:"tolerance_seconds"`
	// Only in computed vectors:
	Params   map[string]string `json:"params"`
	Event    *string           `json:"event"`
	Delivery *string           `json:"delivery"`
	Answer   *vectorAnswer     `json:"answer"`
}

// vectorAnswer is a handshake's required answer.
type vectorAnswer struct {
	Status      int            `json:"status"`
	ContentType string         `json:"content_type"`
	JSON        map[string]any `json:"json"`
	Text        *string        `json:"text"`
}

func loadVectorFile(t *testing.T, name string) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s has no vectors", name)
	}
	return f.Vectors
}

func loadVectors(t *testing.T) []vector { return loadVectorFile(t, "signature-vectors.json") }

// vectorNames maps the shared file's provider names to webhookd's.
var vectorNames = map[string]string{
	"standard-webhooks": "standard",
	"paddle-billing":    "paddle",
}

func (v *vector) providerName() string {
	if n, ok := vectorNames[v.Provider]; ok {
		return n
	}
	return v.Provider
}

// usesPublicURL: for these the vector's url is what the sender signed.
func (v *vector) usesPublicURL() bool {
	n := v.providerName()
	return n == "twilio" || n == "square"
}

// config is the hook a vector is verified by.
func (v *vector) config() ProviderConfig {
	c := ProviderConfig{Name: v.providerName(), PublicKey: v.PublicKey, Tolerance: time.Duration(v.Tolerance) * time.Second}
	if v.Secret != nil {
		c.Secrets = [][]byte{[]byte(*v.Secret)}
	}
	if v.usesPublicURL() {
		c.PublicURL = v.URL
	}
	if c.Name == "github" {
		// The legacy SHA-1 vector is valid only where SHA-1 is allowed.
		_, c.AllowSHA1 = v.Headers["X-Hub-Signature"]
	}
	p := v.Params
	c.Header, c.Algorithm, c.Encoding, c.Prefix = p["header"], p["algorithm"], p["encoding"], p["prefix"]
	c.EventHeader, c.DeliveryHeader, c.Username = p["event_header"], p["delivery_header"], p["username"]
	return c
}

// body is the vector's body; for form_params, their form encoding in order
// (the derived Twilio negatives change a parameter, not the body text).
func (v *vector) body() []byte {
	if len(v.FormParams) == 0 {
		return []byte(v.Body)
	}
	parts := make([]string, len(v.FormParams))
	for i, kv := range v.FormParams {
		parts[i] = url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1])
	}
	return []byte(strings.Join(parts, "&"))
}

// request builds the Request a vector describes. Without "now" the
// receiver's clock is the signature's own timestamp: the source tests that
// give none disable their window.
func (v *vector) request(t *testing.T) *Request {
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	u := &url.URL{Path: "/hooks/x"}
	if v.URL != "" {
		pu, err := url.Parse(v.URL)
		if err != nil {
			t.Fatalf("vector %s: url: %v", v.ID, err)
		}
		u = &url.URL{Path: pu.Path, RawQuery: pu.RawQuery}
	}
	now := testNow
	switch {
	case v.Now != 0:
		now = time.Unix(v.Now, 0)
	case v.providerName() == "paddle":
		kv, err := parseKV("Paddle-Signature", h.Get("Paddle-Signature"), ';', "ts", "h1")
		if err != nil {
			t.Fatalf("vector %s: %v", v.ID, err)
		}
		ts, _ := parseUnix("ts", kv.ts)
		now = ts
	case v.providerName() == "sendgrid":
		if ts, err := parseUnix("ts", h.Get(sendgridTimestamp)); err == nil {
			now = ts
		}
	}
	return &Request{Header: h, Body: v.body(), URL: u, Now: now}
}

// runVector verifies one vector and, for a computed one, checks the
// event type, delivery id and handshake answer.
func runVector(t *testing.T, v *vector) {
	p, err := NewProvider(v.config())
	if err != nil {
		t.Fatal(err)
	}
	r := v.request(t)
	err = p.Verify(r)
	if got := err == nil; got != v.ExpectedValid {
		t.Fatalf("Verify(%s, %s) = %v; want valid=%v (source: %s; derived from %q)", v.ID, v.Origin, err, v.ExpectedValid, v.Source, v.DerivedFrom)
	}
	if err != nil {
		t.Logf("refused: %v", err)
		if Check(err) == "other" {
			t.Errorf("Verify(%s) = %v; want it to wrap ErrNoSignature, ErrMalformed, ErrBadSignature or ErrStale", v.ID, err)
		}
		if v.Secret != nil && len(*v.Secret) > 4 && strings.Contains(err.Error(), *v.Secret) {
			t.Errorf("Verify(%s) = %v shows the secret", v.ID, err)
		}
		return
	}
	if v.Event != nil {
		if got := p.Event(r); got != *v.Event {
			t.Errorf("Event(%s) = %q; want %q", v.ID, got, *v.Event)
		}
	}
	if v.Delivery != nil {
		if got := p.Delivery(r); got != *v.Delivery {
			t.Errorf("Delivery(%s) = %q; want %q", v.ID, got, *v.Delivery)
		}
	}
	hs, isHS := p.(Handshaker)
	var a Answer
	var answered bool
	if isHS {
		a, answered = hs.Handshake(r)
	}
	if v.Answer == nil {
		if answered {
			t.Errorf("Handshake(%s) answered %d %q; want an ordinary delivery", v.ID, a.Status, a.Body)
		}
		return
	}
	if !answered {
		t.Fatalf("Handshake(%s) did not answer; want %d", v.ID, v.Answer.Status)
	}
	checkAnswer(t, a, v.Answer)
}

func checkAnswer(t *testing.T, a Answer, want *vectorAnswer) {
	t.Helper()
	if a.Status != want.Status {
		t.Errorf("handshake status = %d; want %d", a.Status, want.Status)
	}
	if want.ContentType != "" && !strings.HasPrefix(a.ContentType, want.ContentType) {
		t.Errorf("handshake Content-Type = %q; want %q", a.ContentType, want.ContentType)
	}
	if want.Text != nil && string(a.Body) != *want.Text {
		t.Errorf("handshake body = %q; want %q", a.Body, *want.Text)
	}
	if want.JSON != nil {
		var got map[string]any
		if err := json.Unmarshal(a.Body, &got); err != nil {
			t.Fatalf("handshake body %q is not JSON: %v", a.Body, err)
		}
		wb, _ := json.Marshal(want.JSON)
		gb, _ := json.Marshal(got)
		if string(gb) != string(wb) {
			t.Errorf("handshake body = %s; want %s", gb, wb)
		}
	}
}

// TestVectors: every published vector passes, every derived negative
// fails; none is skipped.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	for i := range vs {
		v := &vs[i]
		t.Run(v.ID, func(t *testing.T) { runVector(t, v) })
	}
	published := 0
	for _, v := range vs {
		if v.Origin == "published" {
			published++
		}
	}
	if published < 30 {
		t.Errorf("%d published vectors; the file has lost some", published)
	}
}

// TestComputedVectors: the vectors computed for the providers without
// published ones (see testdata/computed-vectors.py).
func TestComputedVectors(t *testing.T) {
	vs := loadVectorFile(t, "computed-vectors.json")
	for i := range vs {
		v := &vs[i]
		t.Run(v.ID, func(t *testing.T) { runVector(t, v) })
	}
}

// TestVectorCoverage: every provider has a valid vector and a refused one,
// published or computed.
func TestVectorCoverage(t *testing.T) {
	valid, refused := map[string]bool{}, map[string]bool{}
	for _, f := range []string{"signature-vectors.json", "computed-vectors.json"} {
		for _, v := range loadVectorFile(t, f) {
			if _, ok := providers[v.providerName()]; !ok {
				t.Errorf("%s: vector %s is for provider %q, which webhookd does not have", f, v.ID, v.Provider)
			}
			if v.ExpectedValid {
				valid[v.providerName()] = true
			} else {
				refused[v.providerName()] = true
			}
		}
	}
	var missing []string
	for _, n := range ProviderNames() {
		if n != "none" && (!valid[n] || !refused[n]) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("providers without a valid and a refused vector: %v", missing)
	}
}

// TestGitHub_SHA1NeedsOptIn: the legacy SHA-1 signature is refused unless
// the hook allows it.
func TestGitHub_SHA1NeedsOptIn(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.ID != "github-octokit-sha1-legacy" {
			continue
		}
		p, _ := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(*v.Secret)}})
		if err := p.Verify(v.request(t)); !errors.Is(err, ErrNoSignature) {
			t.Errorf("SHA-1 signature without allow_sha1: Verify = %v; want ErrNoSignature (no X-Hub-Signature-256)", err)
		}
		return
	}
	t.Fatal("vector github-octokit-sha1-legacy not found")
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
