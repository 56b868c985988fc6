package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Authentication and request forgery.
//
// With a token configured, every request but /healthz, /login and
// /static/ needs either the token as a bearer token, or (in a browser) a
// session cookie that the login form sets. The cookie does not hold the
// token: it holds an expiry and a random nonce, signed with a key derived
// from the token, so it can be checked without server-side state, and
// changing the token (then restarting) ends every session. A cookie
// authorizes reading (GET) anywhere, and writing only through the
// dashboard's forms, each of which carries a CSRF token derived from the
// session; the API's POSTs need the bearer token.
//
// Without a token (loopback or a unix socket), anyone who can connect may
// act; the dashboard still hands out a session cookie, so that its forms
// carry a CSRF token. Either way, a browser's cross-origin POST is refused
// (Sec-Fetch-Site and Origin, net/http's CrossOriginProtection), and
// without a token a request must name the host as loopback (localhost or
// a loopback address), which defeats DNS rebinding.

// SessionTTL is how long a dashboard login lasts.
const SessionTTL = 12 * time.Hour

// Errors of authentication, mapped to statuses by statusOf.
var (
	errUnauthorized = errors.New("a bearer token is required")
	errWrongToken   = fmt.Errorf("%w: the one given is not the admin token", errUnauthorized)
	errNotBearer    = fmt.Errorf("%w: the Authorization header is not a bearer token (send Authorization: Bearer TOKEN)", errUnauthorized)
	errForbidden    = errors.New("cross-origin request refused")
	errBadForm      = errors.New("the form is stale or did not come from this dashboard: reload the page and try again")
	errMisdirected  = errors.New("without an admin token, the admin listener answers only requests for localhost or a loopback address; set [admin] token to reach it by another name")
)

type auth struct {
	token  []byte // nil: no token
	key    []byte // signs session cookies
	csrf   []byte // derives CSRF tokens from sessions
	cookie string // the session cookie's name
	now    func() time.Time
	cop    *http.CrossOriginProtection

	// ended holds the sessions logged out before their expiry (the value,
	// its expiry in Unix seconds): a session is a signed value, valid by
	// itself, so logging out must remember it until it expires.
	mu    sync.Mutex
	ended map[string]int64
}

func newAuth(token []byte, addr string, now func() time.Time) *auth {
	a := &auth{token: token, now: now, cop: http.NewCrossOriginProtection()}
	// A key of this process's own: a session ends when the daemon stops,
	// so a logout (remembered in memory) cannot be undone by a restart.
	a.key = make([]byte, 32)
	rand.Read(a.key)
	a.csrf = hmacSum(a.key, []byte("csrf"))
	// Browsers send a host's cookies to all its ports: name the cookie
	// after the token and the address (or the key), so two daemons on one
	// host keep their own sessions, and a restart's login replaces the
	// cookie the restart ended.
	name := a.key
	if token != nil {
		name = hmacSum([]byte("webhookd session cookie v2 "+addr), token)
	}
	a.cookie = "webhookd_" + hex.EncodeToString(hmacSum(name, []byte("cookie name"))[:4])
	return a
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// bearer reports whether r carries the token as a bearer token (the
// scheme's name in any case, as RFC 7235 has it).
func (a *auth) bearer(r *http.Request) bool {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
		return false
	}
	return a.token != nil && equal([]byte(v[7:]), a.token)
}

// unauthorized is why r, which the token does not let in, is refused:
// it has no Authorization header, one of another scheme, or a wrong token.
func unauthorized(r *http.Request) error {
	v := r.Header.Get("Authorization")
	switch {
	case v == "":
		return errUnauthorized
	case len(v) < 7 || !strings.EqualFold(v[:7], "Bearer "):
		return errNotBearer
	}
	return errWrongToken
}

// equal compares in constant time, whatever the lengths.
func equal(got, want []byte) bool {
	x, y := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// newSession makes a session cookie value: expiry and nonce, signed.
func (a *auth) newSession() string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().Add(SessionTTL).Unix()))
	rand.Read(b[8:])
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b[:]) + "." + enc.EncodeToString(hmacSum(a.key, b[:]))
}

// validSession checks a session value's signature and expiry.
func (a *auth) validSession(v string) bool {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	// Strict: one value, one spelling. A decoder that ignores the unused
	// bits of the last character reads four spellings of one session, and
	// a logged-out session (ended, by its value) would live on in three.
	enc := base64.RawURLEncoding.Strict()
	b, err1 := enc.DecodeString(body)
	s, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || len(b) != 24 {
		return false
	}
	if !hmac.Equal(s, hmacSum(a.key, b)) {
		return false
	}
	if a.now().Unix() >= int64(binary.BigEndian.Uint64(b[:8])) {
		return false
	}
	a.mu.Lock()
	_, ended := a.ended[v]
	a.mu.Unlock()
	return !ended
}

// maxEnded bounds the logged-out sessions remembered (about 120 bytes
// each); past it, the one that expires first is let go early.
const maxEnded = 10000

// endSession makes session v invalid from now on (a logout). Without a
// token it remembers nothing: any client gets a new session with the
// next page, so a logout protects nothing, and remembering it would let
// any client grow the daemon's memory. With one, the ended sessions are
// bounded (maxEnded), and those that expired anyway are forgotten.
func (a *auth) endSession(v string) {
	if a.token == nil || !a.validSession(v) {
		return
	}
	b, _ := base64.RawURLEncoding.DecodeString(v[:strings.IndexByte(v, '.')])
	now := a.now().Unix()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended == nil {
		a.ended = map[string]int64{}
	}
	first, firstExp := "", int64(0)
	for k, exp := range a.ended {
		if exp <= now {
			delete(a.ended, k)
		} else if first == "" || exp < firstExp {
			first, firstExp = k, exp
		}
	}
	if len(a.ended) >= maxEnded {
		delete(a.ended, first)
	}
	a.ended[v] = int64(binary.BigEndian.Uint64(b[:8]))
}

// session returns r's valid session value, or "".
func (a *auth) session(r *http.Request) string {
	c, err := r.Cookie(a.cookie)
	if err != nil || !a.validSession(c.Value) {
		return ""
	}
	return c.Value
}

// setSession sets (or, with value "", clears) the session cookie.
func (a *auth) setSession(w http.ResponseWriter, r *http.Request, value string) {
	c := &http.Cookie{
		Name: a.cookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(SessionTTL.Seconds())
	}
	http.SetCookie(w, c)
}

// csrfToken is the token a session's forms carry.
func (a *auth) csrfToken(session string) string {
	return base64.RawURLEncoding.EncodeToString(hmacSum(a.csrf, []byte(session)))
}

func (a *auth) checkCSRF(session, got string) bool {
	return session != "" && hmac.Equal([]byte(got), []byte(a.csrfToken(session)))
}

// hostAllowed is the DNS rebinding guard for a listener without a token:
// the request must be for localhost or a loopback address.
func hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isLoopbackHost(host)
}

// isLoopbackHost reports whether host (no port) names this machine only.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// access is how a request was let in.
type access struct {
	bearer  bool   // it carries the token
	session string // its valid session cookie, if any
}

type accessKey struct{}

func withAccess(ctx context.Context, a access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

func accessOf(r *http.Request) access {
	a, _ := r.Context().Value(accessKey{}).(access)
	return a
}
