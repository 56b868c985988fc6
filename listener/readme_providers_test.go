package listener

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// Tests for claims of the README's "## Providers" that no other test held.

// TestRefusal_NamesCheckAndHeader: over HTTP, every provider's refusal is
// 401 {"error": …} naming the check that failed and the signature header,
// and showing neither the secret nor the signature that was expected.
func TestRefusal_NamesCheckAndHeader(t *testing.T) {
	const secret = "k1-readme-secret"
	for caseName, l := range layouts {
		name := l.name(caseName)
		t.Run(caseName, func(t *testing.T) {
			p := l.newProvider(t, caseName, secret)
			h := &Hook{ID: "h", Path: "/hooks/h", Provider: p, MaxBody: 1 << 20}
			e := newEnv(t, h)
			now := time.Now()
			sign := func(p Provider, at time.Time) *Signing {
				s := &Signing{Header: http.Header{}, URL: &url.URL{Path: h.Path}, Body: testBody(name), Event: testEvent[name], Delivery: "d-1", Now: at}
				if name == "telegram" {
					s.Delivery = "4242"
				}
				if err := p.(Signer).Sign(s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			send := func(s *Signing) resp {
				t.Helper()
				req, _ := http.NewRequest("POST", e.srv.URL+s.URL.String(), strings.NewReader(string(s.Body)))
				req.Header = s.Header.Clone()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var out resp
				out.status = res.StatusCode
				jsonDecode(res.Body, &out.body)
				return out
			}
			good := sign(p, now)
			expected := good.Header.Get(l.header)
			if _, sig := l.split(expected); len(sig) > 8 {
				expected = sig
			}

			missing := sign(p, now)
			missing.Header.Del(l.header)
			var wrong *Signing
			if name == "discord" || name == "sendgrid" {
				wrong = sign(otherKeyProvider(t, name), now)
			} else {
				wrong = sign(l.newProvider(t, caseName, "another-secret"), now)
			}
			cases := []struct {
				name  string
				s     *Signing
				check string
			}{
				{"missing", missing, "signature missing"},
				{"wrong secret", wrong, "signature does not match"},
			}
			if l.tol > 0 {
				cases = append(cases, struct {
					name  string
					s     *Signing
					check string
				}{"stale", sign(p, now.Add(-l.tol-time.Minute)), "timestamp outside the allowed window"})
			}
			for _, tc := range cases {
				r := send(tc.s)
				msg, _ := r.body["error"].(string)
				if r.status != http.StatusUnauthorized || !strings.Contains(msg, tc.check) {
					t.Errorf("%s: %d %v; want 401 with an error naming %q", tc.name, r.status, r.body, tc.check)
				}
				if tc.check != "timestamp outside the allowed window" && !strings.Contains(strings.ToLower(msg), strings.ToLower(l.header)) {
					t.Errorf("%s: error %q does not name the header %s", tc.name, msg, l.header)
				}
				if strings.Contains(msg, secret) || strings.Contains(msg, expected) {
					t.Errorf("%s: error %q shows the secret or the expected signature", tc.name, msg)
				}
			}
		})
	}
}

// TestToken_QueryRefusalNamesTheParameter: a wrong ?token= is refused
// naming the query parameter (there is no header to name).
func TestToken_QueryRefusalNamesTheParameter(t *testing.T) {
	e := newEnv(t, edgeHook(t, "tq", ProviderConfig{Name: "token", Secrets: [][]byte{[]byte("right-token")}}))
	r := e.post("POST", "/hooks/tq?token=wrong-token", []byte("{}"), nil)
	msg, _ := r.body["error"].(string)
	if r.status != http.StatusUnauthorized || msg != "signature does not match: token query parameter" {
		t.Errorf("wrong ?token= = %d %v; want 401 \"signature does not match: token query parameter\"", r.status, r.body)
	}
	if r := e.post("POST", "/hooks/tq?token=right-token", []byte("{}"), nil); r.status != http.StatusAccepted {
		t.Errorf("right ?token= = %d %v; want 202", r.status, r.body)
	}
}

// TestStandard_SvixHeaders: a Svix delivery (svix-id, svix-timestamp,
// svix-signature) is verified as a Standard Webhooks one; its delivery id
// is svix-id and its event type the body's type.
func TestStandard_SvixHeaders(t *testing.T) {
	p := mustProvider(t, signConfig("standard", "k1"))
	body := []byte(`{"type":"user.created","data":{"id":"user_1"}}`)
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x"}, Body: body, Event: "user.created", Delivery: "msg_2Xyz", Now: testNow}
	if err := p.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, n := range []string{"Id", "Timestamp", "Signature"} {
		v := s.Header.Get("Webhook-" + n)
		if v == "" {
			t.Fatalf("Sign set no Webhook-%s", n)
		}
		h.Set("Svix-"+n, v)
	}
	body = s.Body // as signed
	r := &Request{Header: h, Body: body, URL: s.URL, Now: testNow}
	if err := p.Verify(r); err != nil {
		t.Fatalf("Verify(svix-* headers) = %v; want accepted", err)
	}
	if got := p.Event(r); got != "user.created" {
		t.Errorf("Event = %q; want user.created", got)
	}
	if got := p.Delivery(r); got != "msg_2Xyz" {
		t.Errorf("Delivery = %q; want msg_2Xyz", got)
	}
	tampered := &Request{Header: h, Body: []byte(strings.Replace(string(body), "user_1", "user_2", 1)), URL: s.URL, Now: testNow}
	if err := p.Verify(tampered); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(svix, body changed) = %v; want ErrBadSignature", err)
	}
	late := &Request{Header: h, Body: body, URL: s.URL, Now: testNow.Add(6 * time.Minute)}
	if err := p.Verify(late); !errors.Is(err, ErrStale) {
		t.Errorf("Verify(svix, 6 minutes later) = %v; want ErrStale", err)
	}
}

// TestTwitch_RevocationStored: a signed revocation is stored as an event
// (not taken for a handshake), with the subscription type as its event
// type and its Twitch-Eventsub-Message-Type header kept.
func TestTwitch_RevocationStored(t *testing.T) {
	h := edgeHook(t, "tw", signConfig("twitch", "twitch-secret-0123"))
	e := newEnv(t, h)
	body := []byte(`{"subscription":{"id":"f1c2a387","status":"authorization_revoked","type":"channel.follow","version":"2"}}`)
	s := &Signing{Header: http.Header{twitchType: {"revocation"}}, URL: &url.URL{Path: h.Path}, Body: body, Event: "channel.follow", Delivery: "rev-1", Now: time.Now()}
	if err := h.Provider.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{}
	for k := range s.Header {
		hdr[k] = s.Header.Get(k)
	}
	if hdr[twitchType] != "revocation" {
		t.Fatalf("signed %s = %q; want revocation", twitchType, hdr[twitchType])
	}
	r := e.post("POST", h.Path, body, hdr)
	if r.status != http.StatusAccepted {
		t.Fatalf("revocation = %d %v; want 202", r.status, r.body)
	}
	ev, err := e.st.GetEvent(r.body["id"].(string), true)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "channel.follow" || ev.Delivery != "rev-1" || ev.Header.Get(twitchType) != "revocation" {
		t.Errorf("stored revocation: type %q, delivery %q, %s %q; want channel.follow, rev-1, revocation", ev.Type, ev.Delivery, twitchType, ev.Header.Get(twitchType))
	}
	if evs, _, _ := e.st.ListEvents(store.EventFilter{Hook: "tw"}); len(evs) != 1 {
		t.Errorf("%d events stored; want 1", len(evs))
	}
}

// TestHMAC_AlgorithmsAndEncodings: the generic hmac provider accepts each
// algorithm the README lists, hex of either case, and base64 standard or
// URL-safe, padded or not; a signature by another secret is refused in
// each form.
func TestHMAC_AlgorithmsAndEncodings(t *testing.T) {
	body := []byte(`{"build":42,"ok":true}`)
	// 0xfb 0xff in the MAC make + / and - _ differ between the encodings
	// often enough; the body is chosen so that sha256 gives padding.
	algs := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}
	encs := map[string]func([]byte) string{
		"hex lower":         hex.EncodeToString,
		"hex upper":         func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) },
		"base64 std":        base64.StdEncoding.EncodeToString,
		"base64 std raw":    base64.RawStdEncoding.EncodeToString,
		"base64 url":        base64.URLEncoding.EncodeToString,
		"base64 url raw":    base64.RawURLEncoding.EncodeToString,
		"base64 std prefix": base64.StdEncoding.EncodeToString,
	}
	for alg, fn := range algs {
		for encName, enc := range encs {
			t.Run(alg+"/"+encName, func(t *testing.T) {
				c := ProviderConfig{Name: "hmac", Secrets: [][]byte{[]byte("hm-secret")}, Header: "X-Sig", Algorithm: alg, Encoding: "hex"}
				if strings.HasPrefix(encName, "base64") {
					c.Encoding = "base64"
				}
				prefix := ""
				if strings.HasSuffix(encName, "prefix") {
					prefix = alg + "="
					c.Prefix = prefix
				}
				p := mustProvider(t, c)
				m := hmac.New(fn, []byte("hm-secret"))
				m.Write(body)
				good := &Request{Header: http.Header{"X-Sig": {prefix + enc(m.Sum(nil))}}, Body: body, URL: &url.URL{}, Now: testNow}
				if err := p.Verify(good); err != nil {
					t.Errorf("Verify(%s) = %v; want accepted", good.Header.Get("X-Sig"), err)
				}
				m = hmac.New(fn, []byte("other-secret"))
				m.Write(body)
				bad := &Request{Header: http.Header{"X-Sig": {prefix + enc(m.Sum(nil))}}, Body: body, URL: &url.URL{}, Now: testNow}
				if err := p.Verify(bad); !errors.Is(err, ErrBadSignature) {
					t.Errorf("Verify(other secret, %s) = %v; want ErrBadSignature", bad.Header.Get("X-Sig"), err)
				}
			})
		}
	}
}

// TestZoom_NoDeliveryIDStoredAgain: Zoom gives a delivery no id, so the
// same delivery sent twice (a retry) is answered 200 and stored twice.
func TestZoom_NoDeliveryIDStoredAgain(t *testing.T) {
	h := edgeHook(t, "zm", signConfig("zoom", "zoom-secret"))
	e := newEnv(t, h)
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: h.Path}, Body: []byte(`{"event":"meeting.started","payload":{"object":{"id":"1"}}}`), Event: "meeting.started", Now: time.Now()}
	if err := h.Provider.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{}
	for k := range s.Header {
		hdr[k] = s.Header.Get(k)
	}
	var ids []any
	for i := range 2 {
		r := e.post("POST", h.Path, s.Body, hdr)
		if r.status != http.StatusOK || r.body["id"] == nil || r.body["duplicate"] != nil {
			t.Fatalf("zoom delivery %d = %d %v; want 200 with a new id", i+1, r.status, r.body)
		}
		ids = append(ids, r.body["id"])
	}
	evs, _, err := e.st.ListEvents(store.EventFilter{Hook: "zm"})
	if err != nil || len(evs) != 2 || ids[0] == ids[1] {
		t.Errorf("stored %d events (%v), ids %v; want 2 events with different ids", len(evs), err, ids)
	}
}
