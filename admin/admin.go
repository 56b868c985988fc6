package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/internal/loglimit"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// Status is what the daemon reports of itself beyond the store.
type Status struct {
	Version    string    `json:"version"`
	Started    time.Time `json:"started"`
	ConfigFile string    `json:"config_file"`
	// LastReload is the result of the last reload ("" before any).
	LastReload     string    `json:"last_reload,omitempty"`
	LastReloadTime time.Time `json:"last_reload_time,omitzero"`
	// ConfigError is the error of the last failed reload, while the file
	// stays broken.
	ConfigError string `json:"config_error,omitempty"`
	// RestartNeeded lists settings a reload changed that take effect only
	// after a restart.
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// Options configure a Server.
type Options struct {
	// Addr is host:port or unix:/path.
	Addr string
	// Token, when set, is required on every request but /healthz: as a
	// bearer token, or through the dashboard's login. Open refuses an
	// address beyond loopback without one.
	Token []byte
	Store *store.Store
	// Scheduler acts on jobs. Required.
	Scheduler *actions.Scheduler
	// Status reports the daemon's state.
	Status func() Status
	// Rejections lists recent refused requests.
	Rejections func() []listener.Rejection
	// Metrics, when set, are served at /metrics.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock (sessions, ages); nil means time.Now.
	Now func() time.Time
	// BackupStall is how long a GET /api/backup client may take no data
	// before the copy is cut off (default DefaultBackupStall).
	BackupStall time.Duration
}

// Server is the admin listener.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	auth *auth
	mux  *http.ServeMux
	// allow lists the methods each registered path takes (see handle).
	allow map[string][]string
	web   *web
	srv   *http.Server
	ln    net.Listener
	// refusalLog limits the lines of refused logins and forms: anyone
	// who reaches the listener can post guesses at the token.
	refusalLog *loglimit.Limiter
}

// New makes a Server; Open binds it.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Status == nil {
		opts.Status = func() Status { return Status{} }
	}
	if opts.Rejections == nil {
		opts.Rejections = func() []listener.Rejection { return nil }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.Token) == 0 {
		opts.Token = nil
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, mux: http.NewServeMux(), allow: map[string][]string{}, web: newWeb(), refusalLog: loglimit.New(opts.Now)}
	s.auth = newAuth(opts.Token, opts.Addr, opts.Now)
	s.routes()
	return s
}

// warnRefused logs a refused login or form, within refusalLog's limit.
func (s *Server) warnRefused(msg string, attrs ...any) {
	if ok, skipped := s.refusalLog.Allow(); ok {
		s.log.Warn(msg, loglimit.Attrs(attrs, skipped)...)
	}
}

func (s *Server) routes() {
	s.handle("GET", "/healthz", s.healthz)
	s.handle("GET", "/api/status", s.apiStatus)
	s.handle("GET", "/api/backup", s.apiBackup)
	s.handle("GET", "/api/events", s.apiEvents)
	s.handle("GET", "/api/events/{id}", s.apiEvent)
	s.handle("POST", "/api/events/{id}/replay", s.apiReplay)
	s.handle("POST", "/api/replay", s.apiBulkReplay)
	s.handle("GET", "/api/jobs", s.apiJobs)
	s.handle("GET", "/api/jobs/{id}", s.apiJob)
	s.handle("POST", "/api/jobs/{id}/retry", s.apiRetry)
	s.handle("POST", "/api/jobs/{id}/cancel", s.apiCancel)
	s.handle("GET", "/api/actions", s.apiActions)
	s.handle("POST", "/api/actions/{hook}/{action}/pause", s.apiPause)
	s.handle("POST", "/api/actions/{hook}/{action}/resume", s.apiResume)
	s.handle("GET", "/api/rejections", s.apiRejections)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, errNoRoute))
	})
	if s.opts.Metrics != nil {
		s.handle("GET", "/metrics", s.opts.Metrics.ServeHTTP)
	}
	s.dashboardRoutes()
}

// handle routes method (GET takes HEAD too) on path to h. Every route is
// registered here: the first one of a path also routes it for every other
// method, to an answer of 405 with Allow. The mux would answer so itself,
// but the catch-alls ("/api/" and "/") match first, and their 404 "no such
// endpoint" would tell a client that the endpoint does not exist.
func (s *Server) handle(method, path string, h http.HandlerFunc) {
	if _, ok := s.allow[path]; !ok {
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			allow := strings.Join(s.allow[path], ", ")
			w.Header().Set("Allow", allow)
			s.fail(w, r, fmt.Errorf("%s: %w; it takes %s", r.URL.Path, errMethod, allow))
		})
	}
	s.allow[path] = append(s.allow[path], method)
	if method == http.MethodGet {
		s.allow[path] = append(s.allow[path], http.MethodHead)
	}
	s.mux.HandleFunc(method+" "+path, h)
}

// Open binds the socket: a TCP address or unix:/path (a stale socket file
// is replaced). An address beyond loopback needs a token.
func (s *Server) Open() error {
	var ln net.Listener
	var err error
	if p, ok := strings.CutPrefix(s.opts.Addr, "unix:"); ok {
		ln, err = listenUnix(p)
	} else {
		host, _, serr := net.SplitHostPort(s.opts.Addr)
		if serr == nil && !isLoopbackHost(host) && s.opts.Token == nil {
			return fmt.Errorf("admin listen %s: beyond loopback the admin listener needs a token", s.opts.Addr)
		}
		ln, err = net.Listen("tcp", s.opts.Addr)
	}
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	// Made here, not in Serve: Shutdown, from another goroutine, may come
	// before Serve has begun, and must find it. No write timeout: a bulk
	// replay streams its progress for as long as it takes.
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return nil
}

// listenUnix binds a unix socket at p (a stale socket there is replaced)
// that only its owner and group can connect to, from the first moment: it
// is bound in a directory of its own, mode 0700, made 0660, then moved to
// p. Bound at p and made 0660 after, it took connections from anyone the
// umask let in meanwhile.
func listenUnix(p string) (net.Listener, error) {
	if len(p) > maxSocketPath {
		// It would bind (in a shorter directory, then renamed) and no
		// client could connect to it.
		return nil, fmt.Errorf("%s: a socket path is at most %d bytes, this one %d", p, maxSocketPath, len(p))
	}
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", p)
		}
		// Replaced only when stale: a socket something answers on is
		// another process's (another webhookd's, on the same path).
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is listening there (another webhookd?)", p)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(p), ".s")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		// The private directory may make the path too long for a socket
		// (108 bytes on Linux, 104 on the BSDs) where p itself is not:
		// bind at p, as before, and set its mode right after.
		if ln, err2 := listenUnixAt(p); err2 == nil {
			return ln, nil
		}
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o660); err != nil {
		ul.Close()
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		ul.Close()
		return nil, err
	}
	return &unixListener{UnixListener: ul, path: p}, nil
}

// maxSocketPath is the longest unix socket path a client can connect to
// (sun_path is 108 bytes on Linux, with its NUL; 104 on the BSDs).
const maxSocketPath = 107

// listenUnixAt binds at p and then sets its mode 0660 (the fallback of
// listenUnix for paths near the length limit).
func listenUnixAt(p string) (net.Listener, error) {
	os.Remove(p) // stale; listenUnix checked that it is a socket
	ln, err := net.Listen("unix", p)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(p, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// unixListener is a unix socket moved to path after it was bound: Addr
// says path, and Close removes it — once: a second Close (Shutdown closes
// what the server closed) must not remove a socket another daemon has
// bound there since.
type unixListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// Addr returns the bound address (host:port, or unix:/path).
func (s *Server) Addr() string {
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return s.ln.Addr().String()
}

// Serve serves until Shutdown (Open first). It returns nil after a
// shutdown, also one that came before it.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil // never opened
	}
	err := s.srv.Shutdown(ctx)
	s.ln.Close() // the server closes it only once Serve has begun
	return err
}

// ServeHTTP guards every request (see auth.go), then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if r.URL.Path == "/healthz" {
		s.mux.ServeHTTP(w, r)
		return
	}
	unix := strings.HasPrefix(s.opts.Addr, "unix:")
	if s.opts.Token == nil && !unix && !hostAllowed(r) {
		s.fail(w, r, errMisdirected)
		return
	}
	if err := s.auth.cop.Check(r); err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", errForbidden, err))
		return
	}
	a := access{bearer: s.auth.bearer(r), session: s.auth.session(r)}
	if s.opts.Token != nil && !a.bearer && !public(r.URL.Path) {
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		api := isAPI(r.URL.Path)
		switch {
		case a.session != "" && (safe || !api):
			// A logged-in browser: dashboard forms check their CSRF token.
		case api:
			h.Set("WWW-Authenticate", `Bearer realm="webhookd"`)
			writeError(w, unauthorized(r))
			return
		default:
			s.toLogin(w, r)
			return
		}
	}
	s.mux.ServeHTTP(w, r.WithContext(withAccess(r.Context(), a)))
}

// public paths need no authentication.
func public(path string) bool {
	return path == "/login" || strings.HasPrefix(path, "/static/")
}

// isAPI reports whether path is answered in JSON (or Prometheus text)
// rather than HTML.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/metrics"
}

// fail answers an error as JSON for the API and as a page for browsers.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r.URL.Path) {
		writeError(w, err)
		return
	}
	s.errorPage(w, r, err)
}

// healthz is 503 while deliveries are refused (see Store.Refusing): a
// monitor or a load balancer should not count on this daemon then. Why is
// in /api/status, behind the token.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Store.Refusing() != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "refusing deliveries"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// statusOf maps an error to its HTTP status: the one place that does, for
// the API (writeError) and the dashboard's error pages alike.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNoRoute):
		return http.StatusNotFound
	case errors.Is(err, store.ErrState), errors.Is(err, actions.ErrNoActions):
		return http.StatusConflict
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden), errors.Is(err, errBadForm):
		return http.StatusForbidden
	case errors.Is(err, errMisdirected):
		return http.StatusMisdirectedRequest
	case store.IsWriteError(err), errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers an API request with an error: {"error": "..."} and
// the status statusOf gives.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
}

var (
	errBadRequest = errors.New("bad request")
	errNoRoute    = errors.New("no such endpoint")
	errMethod     = errors.New("method not allowed")
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHead(w, status)
	encodeJSON(w, v)
}

// writeJSONHead writes the status and headers of a JSON answer.
func writeJSONHead(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// encodeJSON writes v, indented, as the body of a JSON answer.
func encodeJSON(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
