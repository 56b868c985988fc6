package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// stripe verifies Stripe-Signature: "t=<unix>,v1=<hex>[,v1=...][,v0=...]",
// each v1 the HMAC-SHA256 of "t.body" keyed with the whole signing secret
// ("whsec_..." as it is, not decoded). Any v1 may match (Stripe sends one
// per active secret while a secret is rolled). The timestamp must be within
// 5 minutes of the receiver's clock, either way.
//
// https://docs.stripe.com/webhooks#verify-manually
type stripe struct {
	secrets [][]byte
	tol     time.Duration
}

func newStripe(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("stripe needs a secret")
	}
	return &stripe{secrets: c.Secrets, tol: orDefault(c.Tolerance, 5*time.Minute)}, nil
}

// kvSignature is a parsed "ts=..;h1=.." or "t=..,v1=.." header: its one
// timestamp and the signatures of the wanted scheme.
type kvSignature struct {
	ts   string
	sigs []string
}

// parseKV splits header value v on sep into key=value pairs, keeping the
// one tsKey and every sigKey.
func parseKV(name, v string, sep byte, tsKey, sigKey string) (kvSignature, error) {
	var out kvSignature
	seenTS := false
	for _, part := range strings.Split(v, string(sep)) {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return out, fmt.Errorf("%w: %s has a part without '='", ErrMalformed, name)
		}
		switch k {
		case tsKey:
			if seenTS {
				return out, fmt.Errorf("%w: %s has two %s", ErrMalformed, name, tsKey)
			}
			seenTS = true
			out.ts = val
		case sigKey:
			out.sigs = append(out.sigs, val)
		}
	}
	if !seenTS {
		return out, fmt.Errorf("%w: %s has no %s=", ErrMalformed, name, tsKey)
	}
	if len(out.sigs) == 0 {
		return out, fmt.Errorf("%w: %s has no %s=", ErrNoSignature, name, sigKey)
	}
	return out, nil
}

// hexSigs decodes the well-formed lower-case hex signatures of size bytes among
// sigs; the others cannot match and are skipped. None at all is
// malformed.
func hexSigs(name string, sigs []string, size int) ([][]byte, error) {
	var out [][]byte
	for _, s := range sigs {
		if b, err := decodeHexSig(name, s, size); err == nil {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has no hex signature of %d bytes", ErrMalformed, name, size)
	}
	return out, nil
}

func (p *stripe) Verify(r *Request) error {
	const name = "Stripe-Signature"
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	kv, err := parseKV(name, v, ',', "t", "v1")
	if err != nil {
		return err
	}
	ts, err := parseUnix(name+" t", kv.ts)
	if err != nil {
		return err
	}
	sigs, err := hexSigs(name+" v1", kv.sigs, sha256.Size)
	if err != nil {
		return err
	}
	if !matchAny(sigs, p.secrets, func(key []byte) []byte { return mac(sha256.New, key, []byte(kv.ts), []byte{'.'}, r.Body) }) {
		return fmt.Errorf("%w: %s", ErrBadSignature, name)
	}
	return inWindow(name+" t", ts, r.Now, p.tol)
}

// stripeBody is what Stripe's event carries of its type and id.
type stripeBody struct {
	ID   jsonString `json:"id"`
	Type jsonString `json:"type"`
}

func (p *stripe) Event(r *Request) string {
	b, _ := bodyAs[stripeBody](r)
	return string(b.Type)
}

func (p *stripe) Delivery(r *Request) string {
	b, _ := bodyAs[stripeBody](r)
	return string(b.ID)
}

func (p *stripe) Sign(s *Signing) error {
	s.Body = setJSONFields(s.Body, map[string]any{"type": s.Event, "id": deliveryOr(s, "evt_"), "object": "event"})
	t := strconv.FormatInt(s.Now.Unix(), 10)
	s.Header.Set("Stripe-Signature", "t="+t+",v1="+hex.EncodeToString(mac(sha256.New, p.secrets[0], []byte(t), []byte{'.'}, s.Body)))
	s.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	setContentType(s, "application/json; charset=utf-8")
	return nil
}
