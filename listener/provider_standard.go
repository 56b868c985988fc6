package listener

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/internal/stdwh"
)

// standard verifies Standard Webhooks (and Svix, which uses the same
// scheme under svix-* header names): webhook-signature holds
// space-separated "v1,<base64>" signatures, each an HMAC-SHA256 of
// "webhook-id.webhook-timestamp.body" keyed with the base64-decoded
// "whsec_" secret; one match is enough. The timestamp must be within 5
// minutes of the receiver's clock, either way.
//
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
type standard struct {
	keys [][]byte
	tol  time.Duration
}

func newStandard(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("standard needs a secret")
	}
	p := &standard{tol: orDefault(c.Tolerance, 5*time.Minute)}
	for i, s := range c.Secrets {
		k, err := stdwh.Key(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		p.keys = append(p.keys, k)
	}
	return p, nil
}

// stdNames are the three header names of one flavour of the scheme.
type stdNames struct{ id, ts, sig string }

var (
	stdHeaders  = stdNames{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	svixHeaders = stdNames{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}
)

// names picks the flavour the request uses: webhook-* unless it has only
// svix-* headers.
func (standard) names(h http.Header) stdNames {
	if present(h, stdHeaders.sig, stdHeaders.id, stdHeaders.ts) == "" && present(h, svixHeaders.sig, svixHeaders.id, svixHeaders.ts) != "" {
		return svixHeaders
	}
	return stdHeaders
}

func (p *standard) Verify(r *Request) error {
	return verifyStandard(r, p.names(r.Header), p.keys, p.tol)
}

// maxStdID bounds webhook-id, which is signed and so hashed.
const maxStdID = 256

// verifyStandard checks the Standard Webhooks headers n of r against keys.
func verifyStandard(r *Request, n stdNames, keys [][]byte, tol time.Duration) error {
	sigs, err := sigHeader(r.Header, n.sig)
	if err != nil {
		return err
	}
	id, err := sigHeader(r.Header, n.id)
	if err != nil {
		return err
	}
	if len(id) > maxStdID {
		return fmt.Errorf("%w: %s is too long", ErrMalformed, n.id)
	}
	tsText, err := sigHeader(r.Header, n.ts)
	if err != nil {
		return err
	}
	ts, err := parseUnix(n.ts, tsText)
	if err != nil {
		return err
	}
	var got [][]byte
	versioned, v1 := 0, 0
	for _, f := range strings.Fields(sigs) {
		ver, enc, ok := strings.Cut(f, ",")
		if !ok {
			continue
		}
		versioned++
		if ver != "v1" {
			continue // v1a (asymmetric) and later versions are not ours
		}
		v1++
		if b, err := decodeBase64(enc); err == nil && len(b) == sha256.Size {
			got = append(got, b)
		}
	}
	switch {
	case versioned == 0:
		return fmt.Errorf("%w: %s has no \"version,signature\"", ErrMalformed, n.sig)
	case v1 == 0:
		return fmt.Errorf("%w: %s has no v1 signature", ErrNoSignature, n.sig)
	case len(got) == 0:
		return fmt.Errorf("%w: %s has no base64 v1 signature of %d bytes", ErrMalformed, n.sig, sha256.Size)
	}
	ok := matchAny(got, keys, func(key []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(tsText))
		m.Write([]byte{'.'})
		m.Write(r.Body)
		return m.Sum(nil)
	})
	if !ok {
		return fmt.Errorf("%w: %s", ErrBadSignature, n.sig)
	}
	return inWindow(n.ts, ts, r.Now, tol)
}

func (p *standard) Event(r *Request) string {
	var b struct {
		Type jsonString `json:"type"`
	}
	jsonObject(r.Body, &b)
	return string(b.Type)
}

func (p *standard) Delivery(r *Request) string {
	return firstValue(r.Header, stdHeaders.id, svixHeaders.id)
}

func (p *standard) Sign(s *Signing) error {
	s.Body = setJSONFields(s.Body, map[string]any{"type": s.Event})
	id := deliveryOr(s, "msg_")
	ts := s.Now.Unix()
	s.Header.Set("Webhook-Id", id)
	s.Header.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	s.Header.Set("Webhook-Signature", "v1,"+stdwh.Signature(p.keys[0], id, ts, s.Body))
	setContentType(s, "application/json")
	return nil
}
