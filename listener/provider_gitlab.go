package listener

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/internal/stdwh"
)

// gitlab checks GitLab's secret token, sent as it is in X-Gitlab-Token
// (compared in constant time). When the hook has a signing token (GitLab's
// "whsec_" HMAC signing, which follows Standard Webhooks), GitLab sends
// webhook-id, webhook-timestamp and webhook-signature, and those are
// verified instead: HMAC-SHA256 over "id.timestamp.body" with the
// base64-decoded key, within a window of 5 minutes either way.
//
// https://docs.gitlab.com/user/project/integrations/webhooks/
type gitlab struct {
	secrets [][]byte
	keys    [][]byte // secrets as Standard Webhooks keys
	signing bool     // one of the secrets is a signing token ("whsec_")
	tol     time.Duration
}

func newGitLab(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("gitlab needs a secret")
	}
	g := &gitlab{secrets: c.Secrets, tol: orDefault(c.Tolerance, 5*time.Minute)}
	for i, s := range c.Secrets {
		k, err := stdwh.Key(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: signing token: %w", i+1, err)
		}
		g.keys = append(g.keys, k)
		g.signing = g.signing || isSigningToken(s)
	}
	return g, nil
}

// Verify checks the signature when the request is signed and the hook has
// a signing token, and then nothing else: a signed request that fails (a
// stale one, replayed) does not get in with its token. An unsigned request
// needs the secret token, which only a hook that has one (a secret that is
// not a signing token) accepts: a hook with both takes GitLab's requests
// while GitLab's side moves from one to the other; a hook with signing
// tokens alone takes signed requests only.
//
// A hook configured with the secret token alone still accepts GitLab's
// requests when GitLab also signs them.
func (g *gitlab) Verify(r *Request) error {
	if g.signing && len(r.Header.Values("Webhook-Signature")) > 0 {
		return verifyStandard(r, stdHeaders, g.keys, g.tol)
	}
	v, err := sigHeader(r.Header, "X-Gitlab-Token")
	if err != nil {
		if g.signing {
			return fmt.Errorf("%w: no webhook-signature header", ErrNoSignature)
		}
		return err
	}
	for _, s := range g.secrets {
		if !isSigningToken(s) && equalSecret([]byte(v), s) {
			return nil
		}
	}
	return fmt.Errorf("%w: X-Gitlab-Token", ErrBadSignature)
}

func (g *gitlab) Event(r *Request) string { return r.Header.Get("X-Gitlab-Event") }

// Delivery is Idempotency-Key (GitLab 17.4 and later: the same on every
// retry of a delivery), else webhook-id (equal to it), else
// X-Gitlab-Event-UUID. A request that Verify checked by its signature
// gives webhook-id first: the signature covers it, not Idempotency-Key,
// and a replay within the window with a new Idempotency-Key must still be
// a duplicate.
func (g *gitlab) Delivery(r *Request) string {
	if g.signing && len(r.Header.Values("Webhook-Signature")) > 0 {
		return firstValue(r.Header, "Webhook-Id", "Idempotency-Key", "X-Gitlab-Event-UUID")
	}
	return firstValue(r.Header, "Idempotency-Key", "Webhook-Id", "X-Gitlab-Event-UUID")
}

func (g *gitlab) Redact(h http.Header, _ url.Values) {
	redactHeader(h, "X-Gitlab-Token")
}

// Sign sends the secret token, or, when the first secret is a signing
// token (it starts with "whsec_"), the Standard Webhooks headers.
func (g *gitlab) Sign(s *Signing) error {
	id := deliveryOr(s, "")
	if isSigningToken(g.secrets[0]) {
		ts := s.Now.Unix()
		s.Header.Set("Webhook-Id", id)
		s.Header.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
		s.Header.Set("Webhook-Signature", "v1,"+stdwh.Signature(g.keys[0], id, ts, s.Body))
	} else {
		s.Header.Set("X-Gitlab-Token", string(g.secrets[0]))
	}
	s.Header.Set("X-Gitlab-Event", s.Event)
	s.Header.Set("X-Gitlab-Event-UUID", id)
	s.Header.Set("X-Gitlab-Webhook-UUID", id)
	s.Header.Set("Idempotency-Key", id)
	s.Header.Set("User-Agent", "GitLab/webhookd-send")
	setContentType(s, "application/json")
	return nil
}

func isSigningToken(secret []byte) bool {
	return len(secret) > 6 && string(secret[:6]) == "whsec_"
}
