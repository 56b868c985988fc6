package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
)

// gitea verifies Gitea's and Forgejo's X-Gitea-Signature /
// X-Forgejo-Signature: the bare hex HMAC-SHA256 of the JSON payload. A
// hook set to the form content type sends "payload=<JSON>", and the
// signature is still over the JSON, so that is what is checked.
//
// https://docs.gitea.com/usage/webhooks, https://forgejo.org/docs/latest/user/webhooks/
type gitea struct {
	secrets [][]byte
}

func newGitea(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("gitea needs a secret")
	}
	return &gitea{secrets: c.Secrets}, nil
}

// signed returns the bytes the signature covers: the body, or the payload
// field of a form. A form must hold that field alone: the signature
// covers nothing else, and other fields would reach templates and
// commands as the payload.
func giteaSigned(r *Request) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return r.Body, nil
	}
	vals, err := url.ParseQuery(string(r.Body))
	if err != nil || len(vals) != 1 || len(vals["payload"]) != 1 {
		return nil, fmt.Errorf("%w: a form body must be one payload field and nothing else", ErrMalformed)
	}
	return []byte(vals["payload"][0]), nil
}

func (g *gitea) Verify(r *Request) error {
	name := present(r.Header, "X-Forgejo-Signature", "X-Gitea-Signature")
	if name == "" {
		return fmt.Errorf("%w: no X-Gitea-Signature or X-Forgejo-Signature header", ErrNoSignature)
	}
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	sig, err := decodeHexSig(name, v, sha256.Size)
	if err != nil {
		return err
	}
	payload, err := giteaSigned(r)
	if err != nil {
		return err
	}
	if matchAny([][]byte{sig}, g.secrets, func(key []byte) []byte { return mac(sha256.New, key, payload) }) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, name)
}

func (g *gitea) Event(r *Request) string {
	return firstValue(r.Header, "X-Gitea-Event", "X-Forgejo-Event")
}

func (g *gitea) Delivery(r *Request) string {
	return firstValue(r.Header, "X-Gitea-Delivery", "X-Forgejo-Delivery")
}

// Sign sends what Gitea sends: its own headers plus the Gogs and GitHub
// compatible ones. With a form Content-Type the JSON goes in payload=.
func (g *gitea) Sign(s *Signing) error {
	setContentType(s, "application/json")
	payload := s.Body
	if mt, _, _ := mime.ParseMediaType(s.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		s.Body = []byte(url.Values{"payload": {string(payload)}}.Encode())
	}
	sig := hex.EncodeToString(mac(sha256.New, g.secrets[0], payload))
	id := deliveryOr(s, "")
	for _, p := range []string{"X-Gitea-", "X-Gogs-"} {
		s.Header.Set(p+"Delivery", id)
		s.Header.Set(p+"Event", s.Event)
		s.Header.Set(p+"Event-Type", s.Event)
		s.Header.Set(p+"Signature", sig)
	}
	s.Header.Set("X-GitHub-Delivery", id)
	s.Header.Set("X-GitHub-Event", s.Event)
	s.Header.Set("X-Hub-Signature-256", "sha256="+sig)
	return nil
}
