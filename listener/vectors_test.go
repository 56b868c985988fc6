package listener

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"
)

// vector is one entry of testdata/signature-vectors.json, a copy of the
// team's shared file: published vectors name their source (a provider's
// documentation or official SDK tests), derived negatives the published
// vector they change.
type vector struct {
	ID            string            `json:"id"`
	Provider      string            `json:"provider"`
	Origin        string            `json:"origin"`
	Secret        string            `json:"secret"`
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
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

// request builds the Request a vector describes.
func (v *vector) request() *Request {
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	u := &url.URL{Path: "/hooks/x"}
	if v.URL != "" {
		if pu, err := url.Parse(v.URL); err == nil {
			u = pu
		}
	}
	now := time.Now()
	if v.Now != 0 {
		now = time.Unix(v.Now, 0)
	}
	return &Request{Header: h, Body: []byte(v.Body), URL: u, Now: now}
}

// vectorProviders maps the file's provider names to webhookd's, with the
// hook parameters each vector needs.
var vectorProviders = map[string]func(v *vector) ProviderConfig{
	"github": func(v *vector) ProviderConfig {
		// The legacy SHA-1 vector is valid only where SHA-1 is allowed.
		_, sha1 := v.Headers["X-Hub-Signature"]
		return ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(v.Secret)}, AllowSHA1: sha1}
	},
}

func TestVectors(t *testing.T) {
	ran := map[string]int{}
	for _, v := range loadVectors(t) {
		mk, ok := vectorProviders[v.Provider]
		if !ok {
			continue
		}
		t.Run(v.ID, func(t *testing.T) {
			p, err := NewProvider(mk(&v))
			if err != nil {
				t.Fatal(err)
			}
			err = p.Verify(v.request())
			if got := err == nil; got != v.ExpectedValid {
				t.Errorf("Verify(%s, %s) = %v; want valid=%v (source: %s%s)", v.ID, v.Origin, err, v.ExpectedValid, v.Source, v.DerivedFrom)
			}
		})
		ran[v.Provider]++
	}
	if ran["github"] < 8 {
		t.Errorf("ran %d github vectors; want all 8", ran["github"])
	}
}

// TestGitHub_SHA1NeedsOptIn: the legacy SHA-1 signature is refused unless
// the hook allows it.
func TestGitHub_SHA1NeedsOptIn(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.ID != "github-octokit-sha1-legacy" {
			continue
		}
		p, _ := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(v.Secret)}})
		if err := p.Verify(v.request()); err == nil {
			t.Errorf("SHA-1 signature accepted without allow_sha1")
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
