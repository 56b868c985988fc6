package listener

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sendgrid verifies Twilio SendGrid's Signed Event Webhook:
// X-Twilio-Email-Event-Webhook-Signature is the base64 DER ECDSA P-256
// signature of SHA-256(X-Twilio-Email-Event-Webhook-Timestamp + body),
// checked with the verification key SendGrid shows (public_key: base64
// DER, or PEM; no secret). SendGrid documents no window and retries a
// batch for up to three days, so none is applied unless tolerance sets
// one.
//
// https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
type sendgrid struct {
	pub  *ecdsa.PublicKey
	priv *ecdsa.PrivateKey // only for Sign, in tests: SendGrid holds the real one
	tol  time.Duration
}

const (
	sendgridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	sendgridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
	// maxECDSASig bounds a DER P-256 signature (at most 72 bytes).
	maxECDSASig = 72
)

func newSendGrid(c ProviderConfig) (Provider, error) {
	if c.PublicKey == "" {
		return nil, fmt.Errorf("sendgrid needs public_key (the verification key)")
	}
	der, err := keyDER(c.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sendgrid: public_key: %w", err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sendgrid: public_key is not a public key")
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("sendgrid: public_key is not an ECDSA P-256 key")
	}
	p := &sendgrid{pub: pub, tol: c.Tolerance}
	if len(c.Secrets) > 0 {
		der, err := keyDER(string(c.Secrets[0]))
		if err != nil {
			return nil, fmt.Errorf("sendgrid: signing key: %w", err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			if priv, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, fmt.Errorf("sendgrid: signing key is not a private key")
			}
		}
		ep, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("sendgrid: signing key is not an ECDSA key")
		}
		p.priv = ep
	}
	return p, nil
}

// keyDER decodes a key given as PEM or as bare base64 DER.
func keyDER(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		return blk.Bytes, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64 or PEM")
	}
	return b, nil
}

func (p *sendgrid) Verify(r *Request) error {
	v, err := sigHeader(r.Header, sendgridSignature)
	if err != nil {
		return err
	}
	sig, err := decodeBase64(v)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64", ErrMalformed, sendgridSignature)
	}
	if len(sig) > maxECDSASig {
		return fmt.Errorf("%w: %s is %d bytes; want at most %d", ErrMalformed, sendgridSignature, len(sig), maxECDSASig)
	}
	tsText, err := sigHeader(r.Header, sendgridTimestamp)
	if err != nil {
		return err
	}
	ts, err := parseUnix(sendgridTimestamp, tsText)
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(tsText))
	h.Write(r.Body)
	if !ecdsa.VerifyASN1(p.pub, h.Sum(nil), sig) {
		return fmt.Errorf("%w: %s", ErrBadSignature, sendgridSignature)
	}
	if p.tol > 0 {
		return inWindow(sendgridTimestamp, ts, r.Now, p.tol)
	}
	return nil
}

// Event is "": one delivery is a batch of events of several types (each
// has its own "event").
func (p *sendgrid) Event(*Request) string { return "" }

// Delivery is "": a batch has no id of its own.
func (p *sendgrid) Delivery(*Request) string { return "" }

// Sign needs SendGrid's private key: it works only where the provider was
// given one (in tests).
func (p *sendgrid) Sign(s *Signing) error {
	if p.priv == nil {
		return fmt.Errorf("sendgrid: deliveries are signed with SendGrid's private key, which webhookd does not have")
	}
	ts := strconv.FormatInt(s.Now.Unix(), 10)
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(s.Body)
	sig, err := ecdsa.SignASN1(rand.Reader, p.priv, h.Sum(nil))
	if err != nil {
		return fmt.Errorf("sendgrid: sign: %w", err)
	}
	s.Header.Set(sendgridSignature, base64.StdEncoding.EncodeToString(sig))
	s.Header.Set(sendgridTimestamp, ts)
	setContentType(s, "application/json")
	return nil
}
