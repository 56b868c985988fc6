package listener

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLimiter_PerClient(t *testing.T) {
	clk := &fakeClock{t: testNow}
	l := newLimiter(clk.Now)
	l.setRate(1) // burst 2
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 2 {
		if _, ok, _ := l.allow(a); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	wait, ok, _ := l.allow(a)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request = (%v, %v); want refused, a wait of at most 1s", wait, ok)
	}
	if _, ok, _ := l.allow(b); !ok {
		t.Errorf("another client was refused: buckets are per client")
	}
	clk.Add(wait)
	if _, ok, _ := l.allow(a); !ok {
		t.Errorf("after waiting %v, refused; want a token", wait)
	}
	// A refusal takes no token: a client hammering while limited is not
	// pushed further back.
	for range 10 {
		l.allow(a)
	}
	clk.Add(time.Second)
	if _, ok, _ := l.allow(a); !ok {
		t.Errorf("refusals took tokens: still limited a second later")
	}
}

func TestLimiter_IPv6Slash64(t *testing.T) {
	clk := &fakeClock{t: testNow}
	l := newLimiter(clk.Now)
	l.setRate(0.5) // burst 1
	if _, ok, _ := l.allow(netip.MustParseAddr("2001:db8:1:2::1")); !ok {
		t.Fatal("first request refused")
	}
	if _, ok, _ := l.allow(netip.MustParseAddr("2001:db8:1:2:ffff::9")); ok {
		t.Errorf("another address of the same /64 got a fresh bucket")
	}
	if _, ok, _ := l.allow(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Errorf("a different /64 shares the bucket")
	}
}

// TestLimiter_SlowRateNotForgotten: a bucket is dropped only once it would
// have refilled, so a slow rate is not reset by the sweep.
func TestLimiter_SlowRateNotForgotten(t *testing.T) {
	clk := &fakeClock{t: testNow}
	l := newLimiter(clk.Now)
	l.setRate(0.01) // one per 100 s
	a := netip.MustParseAddr("192.0.2.1")
	l.allow(a)
	clk.Add(61 * time.Second)
	l.allow(netip.MustParseAddr("192.0.2.2")) // a request that sweeps
	if _, ok, _ := l.allow(a); ok {
		t.Errorf("61 s later at one per 100 s: allowed; the sweep forgot the bucket")
	}
	clk.Add(40 * time.Second)
	if _, ok, _ := l.allow(a); !ok {
		t.Errorf("101 s later: refused")
	}
}

// TestLimiter_Bounded: a flood from many addresses does not grow the map
// past its cap.
func TestLimiter_Bounded(t *testing.T) {
	clk := &fakeClock{t: testNow}
	l := newLimiter(clk.Now)
	l.setRate(10)
	for i := range maxBuckets + 5000 {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets; want at most %d", n, maxBuckets)
	}
	// Idle buckets go once they have refilled.
	clk.Add(2 * time.Minute)
	l.allow(netip.MustParseAddr("192.0.2.1"))
	if n := len(l.buckets); n != 1 {
		t.Errorf("after every bucket refilled: %d buckets; want 1", n)
	}
}

// limitEnv is a Listener on a fake clock, driven through ServeHTTP so the
// peer address can be any.
type limitEnv struct {
	t   *testing.T
	l   *Listener
	clk *fakeClock
	n   int
}

func newLimitEnv(t *testing.T, cfg *Config) *limitEnv {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &fakeClock{t: testNow}
	return &limitEnv{t: t, clk: clk, l: New(Options{Store: st, Logger: testLogger(t), Now: clk.Now}, cfg)}
}

// post sends a signed delivery from peer with the given X-Forwarded-For.
func (e *limitEnv) post(peer string, xff ...string) *httptest.ResponseRecorder {
	e.n++
	body := []byte(`{"n":1}`)
	r := httptest.NewRequest("POST", "/hooks/site", bytes.NewReader(body))
	r.RemoteAddr = peer
	for k, v := range ghHeaders(body, "push", fmt.Sprint("lim-", e.n)) {
		r.Header.Set(k, v)
	}
	for _, x := range xff {
		r.Header.Add("X-Forwarded-For", x)
	}
	w := httptest.NewRecorder()
	e.l.ServeHTTP(w, r)
	return w
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// TestListener_AllowIPs: allow_ips against the client address, which is the
// peer unless the peer is a trusted proxy; X-Forwarded-For from anyone else
// is ignored.
func TestListener_AllowIPs(t *testing.T) {
	h := githubHook(t)
	h.AllowIPs = prefixes("10.0.0.0/8", "2001:db8::/32")
	h.MaxBody = 1 << 20
	e := newLimitEnv(t, &Config{Hooks: []*Hook{h}, TrustedProxies: prefixes("127.0.0.1/32", "192.168.0.0/16")})
	tests := []struct {
		name string
		peer string
		xff  []string
		want int
	}{
		{"allowed peer", "10.1.2.3:5000", nil, 202},
		{"other peer", "192.0.2.1:5000", nil, 403},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", nil, 202},
		{"IPv6 peer", "[2001:db8::7]:5000", nil, 202},
		{"IPv6 peer outside", "[2001:db9::7]:5000", nil, 403},
		{"untrusted peer claims an allowed address", "192.0.2.1:5000", []string{"10.1.2.3"}, 403},
		{"trusted proxy, allowed client", "127.0.0.1:5000", []string{"10.1.2.3"}, 202},
		{"trusted proxy, other client", "127.0.0.1:5000", []string{"192.0.2.9"}, 403},
		{"client forges the leftmost entry", "127.0.0.1:5000", []string{"10.9.9.9, 192.0.2.9"}, 403},
		{"rightmost untrusted entry is the client", "127.0.0.1:5000", []string{"192.0.2.9, 10.1.2.3"}, 202},
		{"two proxies", "127.0.0.1:5000", []string{"10.1.2.3, 192.168.1.1"}, 202},
		{"two headers", "127.0.0.1:5000", []string{"10.1.2.3", "192.168.1.1"}, 202},
		{"entry with a port", "127.0.0.1:5000", []string{"10.1.2.3:44321"}, 202},
		{"IPv6 entry with a port", "127.0.0.1:5000", []string{"[2001:db8::9]:443"}, 202},
		{"garbage entry: the proxy is the client", "127.0.0.1:5000", []string{"10.1.2.3, not-an-ip"}, 403},
		{"trusted proxy, no header", "127.0.0.1:5000", nil, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := e.post(tc.peer, tc.xff...); w.Code != tc.want {
				t.Errorf("from %s XFF %q = %d %s; want %d", tc.peer, tc.xff, w.Code, w.Body, tc.want)
			}
		})
	}
	found := false
	for _, r := range e.l.Rejections() {
		if r.Check == "allow_ips" && r.Status == 403 && r.Remote == "192.0.2.9" {
			found = true
		}
	}
	if !found {
		t.Errorf("rejections %+v; want an allow_ips refusal naming the client 192.0.2.9", e.l.Rejections())
	}
}

// TestListener_AllowIPsBeforeBody: a refused address is answered before
// the body is read or verified.
func TestListener_AllowIPsBeforeBody(t *testing.T) {
	h := githubHook(t)
	h.AllowIPs = prefixes("10.0.0.0/8")
	e := newLimitEnv(t, &Config{Hooks: []*Hook{h}})
	r := httptest.NewRequest("POST", "/hooks/site", bytes.NewReader(bytes.Repeat([]byte("x"), 10_000)))
	r.RemoteAddr = "192.0.2.1:1"
	w := httptest.NewRecorder()
	e.l.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("oversized, unsigned, from a refused address = %d; want 403 (address first)", w.Code)
	}
}

// TestListener_RateLimit: per client address, 429 with a Retry-After that
// is long enough, and the client is served again once it has passed.
func TestListener_RateLimit(t *testing.T) {
	h := githubHook(t)
	e := newLimitEnv(t, &Config{Hooks: []*Hook{h}, TrustedProxies: prefixes("127.0.0.1/32"), RateLimit: 0.25}) // burst 1, a token per 4 s
	if w := e.post("127.0.0.1:1", "192.0.2.1"); w.Code != 202 {
		t.Fatalf("first = %d %s", w.Code, w.Body)
	}
	w := e.post("127.0.0.1:1", "192.0.2.1")
	if w.Code != 429 || w.Header().Get("Retry-After") != "4" {
		t.Fatalf("second = %d Retry-After %q; want 429 with Retry-After 4", w.Code, w.Header().Get("Retry-After"))
	}
	if w := e.post("127.0.0.1:1", "192.0.2.2"); w.Code != 202 {
		t.Errorf("another client behind the same proxy = %d; want 202", w.Code)
	}
	e.clk.Add(3 * time.Second)
	if w := e.post("127.0.0.1:1", "192.0.2.1"); w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("3 s later = %d Retry-After %q; want 429 with Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}
	e.clk.Add(time.Second)
	if w := e.post("127.0.0.1:1", "192.0.2.1"); w.Code != 202 {
		t.Errorf("after Retry-After = %d; want 202", w.Code)
	}
	last := e.l.Rejections()[0]
	if last.Check != "rate_limit" || last.Status != 429 || last.Remote != "192.0.2.1" {
		t.Errorf("last rejection %+v; want rate_limit for 192.0.2.1", last)
	}
	// Every request counts, one for no hook too: a client trying paths
	// is limited like any other, not answered (and logged) each time.
	var codes []int
	for range 3 {
		r := httptest.NewRequest("POST", "/hooks/nope", nil)
		r.RemoteAddr = "192.0.2.9:1"
		w := httptest.NewRecorder()
		e.l.ServeHTTP(w, r)
		codes = append(codes, w.Code)
	}
	if !slices.Equal(codes, []int{404, 429, 429}) {
		t.Errorf("three requests for no hook = %v; want 404, then 429s", codes)
	}
	// A reload without a limit lifts it.
	e.l.SetConfig(&Config{Hooks: []*Hook{h}})
	for range 5 {
		if w := e.post("192.0.2.1:1"); w.Code != 202 {
			t.Fatalf("without a rate limit = %d; want 202", w.Code)
		}
	}
}

// TestListener_RateLimitCountsAllowIPsRefusals: a client that a hook's
// allow_ips leaves out is counted against the rate limit like any other
// request: past the burst it gets 429, and stops costing a log line and a
// rejections entry each.
func TestListener_RateLimitCountsAllowIPsRefusals(t *testing.T) {
	h := githubHook(t)
	h.AllowIPs = prefixes("10.0.0.0/8")
	e := newLimitEnv(t, &Config{Hooks: []*Hook{h}, RateLimit: 0.25}) // burst 1
	var codes []int
	for range 3 {
		codes = append(codes, e.post("192.0.2.1:1").Code)
	}
	if !slices.Equal(codes, []int{403, 429, 429}) {
		t.Errorf("three requests from an address allow_ips refuses, rate_limit 0.25 = %v; want 403, then 429s", codes)
	}
}

// syncBuffer is a log destination tests read while the listener writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// TestListener_RateLimitLogsOnce: a client over the rate limit costs one
// warning and one rejections entry, however many requests it goes on
// sending while it is limited (a flood of 429s logged at warn filled the
// journal, which then dropped the daemon's other lines, and pushed every
// other refusal out of the rejections list); the next time it is limited,
// after it was served again, is logged again. Every 429 is still answered
// and counted.
func TestListener_RateLimitLogsOnce(t *testing.T) {
	h := githubHook(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &fakeClock{t: testNow}
	logs := &syncBuffer{}
	var answered []int
	e := &limitEnv{t: t, clk: clk, l: New(Options{
		Store: st, Now: clk.Now,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnRequest: func(r RequestInfo) { answered = append(answered, r.Status) },
	}, &Config{Hooks: []*Hook{h}, RateLimit: 0.25})} // burst 1, a token per 4 s
	refusals := func() int {
		n := 0
		for _, r := range e.l.Rejections() {
			if r.Check == "rate_limit" {
				n++
			}
		}
		return n
	}
	if w := e.post("192.0.2.1:1"); w.Code != 202 {
		t.Fatalf("first = %d %s", w.Code, w.Body)
	}
	for range 50 {
		if w := e.post("192.0.2.1:1"); w.Code != 429 {
			t.Fatalf("over the limit = %d; want 429", w.Code)
		}
	}
	if n := logs.count("check=rate_limit"); n != 1 {
		t.Errorf("50 requests over the limit: %d log lines; want 1", n)
	}
	if n := refusals(); n != 1 {
		t.Errorf("50 requests over the limit: %d rejections entries; want 1", n)
	}
	if len(answered) != 51 || answered[50] != 429 {
		t.Errorf("OnRequest saw %d requests; want all 51, the last a 429", len(answered))
	}
	// Another client limited is logged for itself.
	e.post("192.0.2.2:1")
	e.post("192.0.2.2:1")
	if n := logs.count("check=rate_limit"); n != 2 {
		t.Errorf("a second client limited: %d log lines; want 2", n)
	}
	// Served again, then limited again: a new warning.
	e.clk.Add(4 * time.Second)
	if w := e.post("192.0.2.1:1"); w.Code != 202 {
		t.Fatalf("after the wait = %d; want 202", w.Code)
	}
	e.post("192.0.2.1:1")
	if n := logs.count("check=rate_limit"); n != 3 {
		t.Errorf("limited again after being served: %d log lines; want 3", n)
	}
	if n := refusals(); n != 3 {
		t.Errorf("rejections entries = %d; want 3", n)
	}
}

// TestListener_RateLimitSteadyFloodLogsOnce: a client that goes on sending
// faster than rate_limit is served now and then (a token each 1/rate), and
// refused in between. Its refusals are one spell, however often a served
// request falls among them: one warning and one rejections entry, not one
// after each request served, which let a flood at a hook's path push every
// other refusal out of the list in seconds.
func TestListener_RateLimitSteadyFloodLogsOnce(t *testing.T) {
	h := githubHook(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &fakeClock{t: testNow}
	logs := &syncBuffer{}
	e := &limitEnv{t: t, clk: clk, l: New(Options{
		Store: st, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, &Config{Hooks: []*Hook{h}, RateLimit: 1})} // burst 2, a token a second
	refusals := func() int {
		n := 0
		for _, r := range e.l.Rejections() {
			if r.Check == "rate_limit" {
				n++
			}
		}
		return n
	}
	// Four requests a second for 30 s: about one a second served.
	served := 0
	for range 120 {
		switch w := e.post("192.0.2.1:1"); w.Code {
		case 202:
			served++
		case 429:
		default:
			t.Fatalf("a delivery = %d %s; want 202 or 429", w.Code, w.Body)
		}
		clk.Add(250 * time.Millisecond)
	}
	if served < 20 || served > 40 {
		t.Fatalf("served %d of 120 at four times the rate; want about 30", served)
	}
	if n := refusals(); n != 1 {
		t.Errorf("a steady flood at four times rate_limit: %d rejections entries; want 1", n)
	}
	if n := logs.count("check=rate_limit"); n != 1 {
		t.Errorf("a steady flood at four times rate_limit: %d log lines; want 1", n)
	}
	// It keeps within the limit for as long as its bucket takes to fill
	// (2 s), then floods again: a new spell, logged.
	for range 3 {
		clk.Add(time.Second)
		if w := e.post("192.0.2.1:1"); w.Code != 202 {
			t.Fatalf("within the limit = %d; want 202", w.Code)
		}
	}
	for i := 0; e.post("192.0.2.1:1").Code != 429; i++ {
		if i == 3 {
			t.Fatalf("flooding again: no 429 in 4 requests at once")
		}
	}
	if n := refusals(); n != 2 {
		t.Errorf("a second flood after keeping within the limit: %d rejections entries; want 2", n)
	}
}

// TestListener_ClientAddrEverywhere: README, Behind a proxy: behind a
// trusted proxy, the client's address taken from X-Forwarded-For (the
// rightmost that is not a trusted proxy) is the one the log's request
// line, the stored event and the metrics' request see, not the proxy's;
// from a peer that is not trusted, the header is ignored there too.
func TestListener_ClientAddrEverywhere(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var (
		mu   sync.Mutex
		logs bytes.Buffer
		seen []string
	)
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	l := New(Options{Store: st, Logger: log, OnRequest: func(r RequestInfo) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Remote)
	}}, &Config{Hooks: []*Hook{githubHook(t)}, TrustedProxies: prefixes("127.0.0.1/32", "10.0.0.0/8")})
	for i, tc := range []struct {
		peer, xff, want string
	}{
		{"127.0.0.1:4000", "198.51.100.7, 203.0.113.5, 10.0.0.2", "203.0.113.5"},
		{"192.0.2.1:4000", "203.0.113.5", "192.0.2.1"},
	} {
		mu.Lock()
		logs.Reset()
		seen = nil
		mu.Unlock()
		body := []byte(`{"n":1}`)
		r := httptest.NewRequest("POST", "/hooks/site", bytes.NewReader(body))
		r.RemoteAddr = tc.peer
		for k, v := range ghHeaders(body, "push", fmt.Sprint("addr-", i)) {
			r.Header.Set(k, v)
		}
		r.Header.Set("X-Forwarded-For", tc.xff)
		w := httptest.NewRecorder()
		l.ServeHTTP(w, r)
		if w.Code != 202 {
			t.Fatalf("from %s XFF %q = %d %s", tc.peer, tc.xff, w.Code, w.Body)
		}
		var ans struct{ ID string }
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatal(err)
		}
		ev, err := st.GetEvent(ans.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Remote != tc.want {
			t.Errorf("from %s XFF %q: stored remote %q; want %q", tc.peer, tc.xff, ev.Remote, tc.want)
		}
		mu.Lock()
		if !strings.Contains(logs.String(), "remote="+tc.want+" ") {
			t.Errorf("from %s XFF %q: the log does not name remote=%s:\n%s", tc.peer, tc.xff, tc.want, logs.String())
		}
		if len(seen) != 1 || seen[0] != tc.want {
			t.Errorf("from %s XFF %q: OnRequest saw %q; want %q", tc.peer, tc.xff, seen, tc.want)
		}
		mu.Unlock()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
