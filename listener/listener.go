package listener

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/internal/loglimit"
	"github.com/webhookd/webhookd/internal/textcut"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Store is what the listener needs of the store.
type Store interface {
	Ingest(ctx context.Context, ne *store.NewEvent) (store.IngestResult, error)
}

// Hook is one endpoint, as the listener serves it.
type Hook struct {
	ID       string
	Path     string
	Provider Provider
	// Events lists accepted event types; empty accepts all.
	Events   map[string]bool
	AllowIPs []netip.Prefix
	MaxBody  int64
	// Plan returns the jobs to create for an event (evaluating each
	// action's when and key). Nil creates none.
	Plan func(d *tmpl.Data) []store.NewJob
}

// Config is one immutable snapshot of what the listener serves.
type Config struct {
	Hooks          []*Hook
	TrustedProxies []netip.Prefix
	// RateLimit is requests per second per client address; 0 is none.
	RateLimit float64
}

type snapshot struct {
	cfg    *Config
	routes map[string]*Hook
}

// RequestInfo describes one handled request, for metrics and logs.
type RequestInfo struct {
	Hook     string // "" when no hook matched
	Status   int
	Duration time.Duration
	Check    string // for 401: the verification check that failed
	EventID  string
	Remote   string
}

// Options configure a Listener.
type Options struct {
	// Addr is the address to listen on (host:port).
	Addr string
	// TLS, when set, serves HTTPS with it.
	TLS *tls.Config
	// Store is where events go. Required.
	Store Store
	// Logger receives a line per request and per problem; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRequest, if set, is called after each request is answered.
	OnRequest func(RequestInfo)
	// Rejections is how many recent refusals to keep (default 100), and
	// how many ignored deliveries.
	Rejections int
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout guard
	// against slow clients; zero values get defaults (10s, 60s, 60s, 120s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Listener serves the hooks.
type Listener struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	snap   atomic.Pointer[snapshot]
	limits *limiter
	// rejects are the refusals of requests to a hook; strays those of
	// requests that match no hook (scanners trying paths); ignores the
	// deliveries ignored for their event type. Each is a ring of its own,
	// so that many of one kind (a scan, a sender's many ignored types)
	// never push a hook's refusal out of the list.
	rejects *rejections
	strays  *rejections
	ignores *rejections
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
	closeMu sync.Once

	// A refused request's log line (or one answered unsigned, as
	// Slack's ssl_check is) is limited: a flood of them, which a client
	// chooses, would fill the log otherwise. The metrics count every
	// one, and the rejections list has them whatever the log left out
	// (of a rate-limited client, the first of a spell). Each hook id has its own limit ("" those
	// for no hook), so that a scanner does not hide a sender's wrong
	// secret; there are as many as hooks were ever configured.
	logMu      sync.Mutex
	refusalLog map[string]*loglimit.Limiter
}

// maxHeaderBytes makes the limit on a request's line and headers 64 KiB:
// net/http reads up to MaxHeaderBytes plus 4 KiB ("bufio slop") before it
// answers 431, so that MaxHeaderBytes = 64 KiB let heads of up to 68 KiB in.
const maxHeaderBytes = 64<<10 - 4096

// logPathMax bounds the path a log line quotes: a client chooses it, up to
// the header limit (64 KiB), as the rejections list does.
const logPathMax = 200

// New makes a Listener; Open binds its socket.
func New(opts Options, cfg *Config) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rejections <= 0 {
		opts.Rejections = 100
	}
	l := &Listener{
		opts:       opts,
		log:        opts.Logger,
		now:        opts.Now,
		limits:     newLimiter(opts.Now),
		rejects:    newRejections(opts.Rejections),
		strays:     newRejections(opts.Rejections),
		ignores:    newRejections(opts.Rejections),
		done:       make(chan struct{}),
		refusalLog: map[string]*loglimit.Limiter{},
	}
	l.SetConfig(cfg)
	return l
}

// SetConfig swaps in a new snapshot of hooks. Requests already being
// handled finish with the snapshot they started with.
func (l *Listener) SetConfig(cfg *Config) {
	if cfg == nil {
		cfg = &Config{}
	}
	s := &snapshot{cfg: cfg, routes: make(map[string]*Hook, len(cfg.Hooks))}
	for _, h := range cfg.Hooks {
		s.routes[h.Path] = h
	}
	l.limits.setRate(cfg.RateLimit)
	l.snap.Store(s)
}

// Open binds the listening socket.
func (l *Listener) Open() error {
	ln, err := net.Listen("tcp", l.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", l.opts.Addr, err)
	}
	l.ln = ln
	// Made here, not in Serve: Shutdown, from another goroutine, may come
	// before Serve has begun, and must find it.
	o := l.opts
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: durOr(o.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       durOr(o.ReadTimeout, 60*time.Second),
		WriteTimeout:      durOr(o.WriteTimeout, 60*time.Second),
		IdleTimeout:       durOr(o.IdleTimeout, 120*time.Second),
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	return nil
}

// Addr returns the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Serve serves until Shutdown or Close (Open first). It returns nil after
// a shutdown, also one that came before it.
func (l *Listener) Serve() error {
	defer close(l.done)
	ln := l.ln
	if l.opts.TLS != nil {
		ln = tls.NewListener(ln, l.opts.TLS)
	}
	err := l.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Shutdown stops accepting and waits for requests in flight (each one's
// commit included) until ctx ends.
func (l *Listener) Shutdown(ctx context.Context) error {
	if l.srv == nil {
		return nil // never opened
	}
	err := l.srv.Shutdown(ctx)
	l.ln.Close() // the server closes it only once Serve has begun
	return err
}

// Close stops at once.
func (l *Listener) Close() error {
	if l.srv == nil {
		return nil
	}
	err := l.srv.Close()
	l.ln.Close()
	return err
}

// Rejections returns the recent refusals and ignored deliveries, newest
// first: as many as Options.Rejections of each kind — refused by a hook,
// refused for matching no hook, ignored.
func (l *Listener) Rejections() []Rejection {
	lists := [][]Rejection{l.rejects.list(), l.strays.list(), l.ignores.list()}
	out := []Rejection{}
	for {
		newest := -1
		for i, rs := range lists {
			if len(rs) > 0 && (newest < 0 || rs[0].Time.After(lists[newest][0].Time)) {
				newest = i
			}
		}
		if newest < 0 {
			return out
		}
		out = append(out, lists[newest][0])
		lists[newest] = lists[newest][1:]
	}
}

// answer is the result of handling one request.
type answer struct {
	status int
	body   any
	header map[string]string
	raw    *Answer // a handshake's exact answer
	check  string  // which check refused the request
	reason string  // why, for the log and the rejections list
	event  string  // the stored event's id
	dupOf  string  // a duplicate: the first event's id
	// quiet is a refusal like one just logged (a rate-limited client's
	// next requests): logged at debug only, and not kept in the list.
	quiet bool
	// unverified is an answer given without a signature (a Prober's):
	// anyone can ask for it, so its log line is limited as a refusal's.
	unverified bool
	// ignored is set for a delivery whose event type the hook's events
	// leaves out: answered, not stored. ignoredType is that type.
	ignored     bool
	ignoredType string
}

func jsonAnswer(status int, body any) *answer { return &answer{status: status, body: body} }

func refuse(status int, check, reason string) *answer {
	return &answer{status: status, body: map[string]string{"error": reason}, check: check, reason: reason}
}

// ServeHTTP handles one request.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	snap := l.snap.Load()
	hook := snap.routes[r.URL.Path]
	remote := clientAddr(r, snap.cfg.TrustedProxies)
	var a *answer
	func() {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.log.Error("panic in handler", "panic", fmt.Sprint(p), "path", textcut.Cut(r.URL.Path, logPathMax), "stack", string(debug.Stack()))
				a = jsonAnswer(http.StatusInternalServerError, map[string]string{"error": "internal error"})
			}
		}()
		a = l.handle(r, hook, remote)
	}()
	write(w, a)
	hookID := ""
	if hook != nil {
		hookID = hook.ID
	}
	dur := time.Since(start)
	switch {
	case a.quiet:
		// Like a refusal just listed: not listed again.
	case a.check != "" && hook == nil:
		l.strays.add(Rejection{Time: l.now(), Hook: hookID, Path: r.URL.Path, Remote: remote.String(), Status: a.status, Check: a.check, Reason: a.reason})
	case a.check != "":
		l.rejects.add(Rejection{Time: l.now(), Hook: hookID, Path: r.URL.Path, Remote: remote.String(), Status: a.status, Check: a.check, Reason: a.reason})
	case a.ignored:
		// Not refused, but the sender counts it as delivered and nothing
		// ran: listed, so that "why didn't my deploy run?" has an answer
		// when events misses what the sender sends.
		l.ignores.add(Rejection{Time: l.now(), Hook: hookID, Path: r.URL.Path, Remote: remote.String(), Status: a.status, Check: "ignored", Reason: ignoredReason(hook, a.ignoredType)})
	}
	attrs := []any{"hook", hookID, "status", a.status, "remote", remote.String(), "duration", dur.Round(time.Microsecond)}
	path := textcut.Cut(r.URL.Path, logPathMax)
	switch {
	case a.event != "":
		l.log.Info("request", append(attrs, "event_id", a.event)...)
	case a.status >= 500:
		l.logRefusal(hookID, slog.LevelError, "request", append(attrs, "path", path, "reason", textcut.Cut(a.reason, 300)))
	case a.quiet:
		l.log.Debug("request refused", append(attrs, "path", path, "check", a.check, "reason", a.reason)...)
	case a.check != "":
		l.logRefusal(hookID, slog.LevelWarn, "request refused", append(attrs, "path", path, "check", a.check, "reason", textcut.Cut(a.reason, 300)))
	case a.dupOf != "":
		l.log.Info("request", append(attrs, "event_id", a.dupOf, "duplicate", true)...)
	case a.unverified:
		l.logRefusal(hookID, slog.LevelInfo, "request", append(attrs, "path", path))
	case a.ignored:
		l.log.Info("request", append(attrs, "path", path, "ignored", textcut.Cut(a.ignoredType, 200))...)
	default: // handshakes
		l.log.Info("request", append(attrs, "path", path)...)
	}
	if l.opts.OnRequest != nil {
		l.opts.OnRequest(RequestInfo{Hook: hookID, Status: a.status, Duration: dur, Check: a.check, EventID: a.event, Remote: remote.String()})
	}
}

// logRefusal logs a refused (or unsigned) request's line for hook unless
// such lines come faster than their limit allows; the line logged after
// some were not says how many (not_logged).
func (l *Listener) logRefusal(hook string, level slog.Level, msg string, attrs []any) {
	l.logMu.Lock()
	lim := l.refusalLog[hook]
	if lim == nil {
		lim = loglimit.New(l.now)
		l.refusalLog[hook] = lim
	}
	l.logMu.Unlock()
	if ok, skipped := lim.Allow(); ok {
		l.log.Log(context.Background(), level, msg, loglimit.Attrs(attrs, skipped)...)
	}
}

func write(w http.ResponseWriter, a *answer) {
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.raw != nil {
		if a.raw.ContentType != "" {
			w.Header().Set("Content-Type", a.raw.ContentType)
		}
		w.WriteHeader(a.raw.Status)
		w.Write(a.raw.Body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(a.status)
	if a.body != nil {
		json.NewEncoder(w).Encode(a.body)
	}
}

// handle runs the steps for one request.
func (l *Listener) handle(r *http.Request, hook *Hook, remote netip.Addr) *answer {
	if a := l.limit(hook, remote); a != nil {
		return a
	}
	if hook == nil {
		return refuse(http.StatusNotFound, "route", "no such hook")
	}
	if r.Method != http.MethodPost {
		m := r.Method
		if len(m) > 16 {
			m = m[:16] + "…" // a method is any token, up to the header limit
		}
		a := refuse(http.StatusMethodNotAllowed, "method", "method "+m+" not allowed; use POST")
		a.header = map[string]string{"Allow": http.MethodPost}
		return a
	}
	body, a := readBody(r, hook.MaxBody)
	if a != nil {
		return a
	}
	req := &Request{Header: r.Header, Body: body, URL: r.URL, Now: l.now()}
	if pr, ok := hook.Provider.(Prober); ok {
		if ans, ok := pr.Probe(req); ok {
			return &answer{status: ans.Status, raw: &ans, unverified: true}
		}
	}
	if err := hook.Provider.Verify(req); err != nil {
		a := refuse(http.StatusUnauthorized, Check(err), err.Error())
		if c, ok := hook.Provider.(Challenger); ok {
			a.header = map[string]string{"WWW-Authenticate": c.Challenge()}
		}
		return a
	}
	if hs, ok := hook.Provider.(Handshaker); ok {
		if ans, ok := hs.Handshake(req); ok {
			return &answer{status: ans.Status, raw: &ans}
		}
	}
	event := hook.Provider.Event(req)
	if len(hook.Events) > 0 && !hook.Events[event] {
		a := jsonAnswer(http.StatusOK, map[string]string{"ignored": event})
		if d, ok := hook.Provider.(Dismisser); ok {
			if ans, ok := d.Dismiss(req); ok {
				a = &answer{status: ans.Status, raw: &ans}
			}
		}
		a.ignored, a.ignoredType = true, event
		return a
	}
	return l.persist(r, hook, req, event, remote)
}

// ignoredReason says why a delivery of event type typ was not stored: the
// hook's events leave it out (listed, as a typo there is the usual cause).
func ignoredReason(hook *Hook, typ string) string {
	events := make([]string, 0, len(hook.Events))
	for e := range hook.Events {
		events = append(events, e)
	}
	sort.Strings(events)
	return fmt.Sprintf("event type %q is not in the hook's events (%s): answered, not stored", typ, strings.Join(events, ", "))
}

// limit refuses a client that is over the rate limit, or that the hook's
// allow_ips leaves out: the rate counts every request, also one for no
// hook (a scanner trying paths) and one allow_ips refuses, whose 404 or
// 403 would otherwise cost a log line each.
func (l *Listener) limit(hook *Hook, remote netip.Addr) *answer {
	// The rate first: a client allow_ips refuses is counted too.
	if wait, ok, first := l.limits.allow(remote); !ok {
		a := refuse(http.StatusTooManyRequests, "rate_limit", "rate limit exceeded")
		a.header = map[string]string{"Retry-After": strconv.Itoa(max(1, int(wait.Seconds()+0.999)))}
		if first {
			// One line per spell of refusals (limits.go), not one per
			// request: a client that goes on sending would fill the log.
			a.reason += "; more requests from this client are refused quietly until it keeps within the limit"
		} else {
			a.quiet = true
		}
		return a
	}
	if hook != nil && len(hook.AllowIPs) > 0 && !allowed(hook.AllowIPs, remote) {
		return refuse(http.StatusForbidden, "allow_ips", "client address not allowed")
	}
	return nil
}

func allowed(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// readBody reads the body, refusing it past max before reading further.
func readBody(r *http.Request, max int64) ([]byte, *answer) {
	tooLarge := func() *answer {
		return refuse(http.StatusRequestEntityTooLarge, "max_body", fmt.Sprintf("body larger than %d bytes", max))
	}
	if r.ContentLength > max {
		return nil, tooLarge()
	}
	n := r.ContentLength
	if n < 0 || n > 64<<10 {
		n = 64 << 10
	}
	buf := make([]byte, 0, n+1)
	lr := io.LimitReader(r.Body, max+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if int64(len(buf)) > max {
			return nil, tooLarge()
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "body", "could not read the body")
		}
	}
}

// persist plans the event's jobs and stores it.
func (l *Listener) persist(r *http.Request, hook *Hook, req *Request, event string, remote netip.Addr) *answer {
	delivery := hook.Provider.Delivery(req)
	received := req.Now
	header := r.Header.Clone()
	query := r.URL.Query()
	redact(hook.Provider, header, query)
	data := &tmpl.Data{
		Hook:        hook.ID,
		Event:       event,
		Delivery:    delivery,
		Received:    received,
		ContentType: r.Header.Get("Content-Type"),
		Body:        req.Body,
		Headers:     tmpl.HeaderMap(header),
		Query:       tmpl.QueryMap(query),
	}
	var jobs []store.NewJob
	if hook.Plan != nil {
		jobs = hook.Plan(data)
	}
	ne := &store.NewEvent{
		Hook:        hook.ID,
		Type:        event,
		Delivery:    delivery,
		Received:    received,
		Remote:      remote.String(),
		ContentType: data.ContentType,
		Header:      header,
		Query:       query.Encode(),
		Body:        req.Body,
		Jobs:        jobs,
	}
	// The write goes on even if the client leaves: once queued, it lands.
	res, err := l.opts.Store.Ingest(context.WithoutCancel(r.Context()), ne)
	if err != nil {
		a := refuse(http.StatusServiceUnavailable, "", "cannot store the event now; retry later")
		a.reason = "store: " + err.Error()
		a.header = map[string]string{"Retry-After": "10"}
		return a
	}
	var a *answer
	if res.Duplicate {
		a = jsonAnswer(http.StatusOK, map[string]any{"id": res.ID, "duplicate": true})
		a.dupOf = res.ID
	} else {
		status := http.StatusAccepted
		if ac, ok := hook.Provider.(Accepter); ok {
			status = ac.AcceptStatus()
		}
		a = jsonAnswer(status, map[string]any{"id": res.ID, "jobs": res.Jobs})
		a.event = res.ID
	}
	// A sender that needs a particular answer to a delivery gets it, now
	// that the event is stored.
	if ack, ok := hook.Provider.(Acknowledger); ok {
		if ans, ok := ack.Acknowledge(req); ok {
			a.status, a.raw = ans.Status, &ans
		}
	}
	return a
}

// redactHeader replaces every value of header name, if it is present at
// all: a first value that is empty must not let a second one through.
func redactHeader(h http.Header, name string) {
	if len(h.Values(name)) > 0 {
		h.Set(name, "[redacted]")
	}
}

// alwaysRedacted are headers that carry credentials whatever the provider.
var alwaysRedacted = []string{"Authorization", "Proxy-Authorization", "Cookie"}

func redact(p Provider, h http.Header, q url.Values) {
	for _, name := range alwaysRedacted {
		redactHeader(h, name)
	}
	if r, ok := p.(Redactor); ok {
		r.Redact(h, q)
	}
}

// clientAddr is the request's peer address, or, when the peer is a trusted
// proxy, the address X-Forwarded-For names: the rightmost one that is not
// itself a trusted proxy.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	// Unmapped, and without its zone (a link-local peer's fe80::1%eth0):
	// a prefix never contains an address with a zone.
	addr := ap.Addr().Unmap().WithZone("")
	if len(trusted) == 0 || !allowed(trusted, addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := splitComma(xff[i])
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := forwardedAddr(parts[j])
			if !ok {
				return addr // garbage: believe the peer, not the header
			}
			if !allowed(trusted, a) {
				return a
			}
			addr = a
		}
	}
	return addr
}

// forwardedAddr reads one X-Forwarded-For entry: an address, or an address
// with a port ("1.2.3.4:5678", "[2001:db8::1]:443"), which some proxies
// write.
func forwardedAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			part := s[start:i]
			for len(part) > 0 && (part[0] == ' ' || part[0] == '\t') {
				part = part[1:]
			}
			for len(part) > 0 && (part[len(part)-1] == ' ' || part[len(part)-1] == '\t') {
				part = part[:len(part)-1]
			}
			if part != "" {
				out = append(out, part)
			}
			start = i + 1
		}
	}
	return out
}
