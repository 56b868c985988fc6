package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webhookd/webhookd/actions"
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
	// Token, when set, is required as a bearer token on every request.
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
}

// Server is the admin listener.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	srv  *http.Server
	ln   net.Listener
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
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /api/events/{id}", s.apiEvent)
	s.mux.HandleFunc("GET /api/status", s.apiStatus)
	if s.opts.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Metrics.Registry(), promhttp.HandlerOpts{}))
	}
}

// Open binds the socket: a TCP address or unix:/path (a stale socket file
// is replaced).
func (s *Server) Open() error {
	var ln net.Listener
	var err error
	if p, ok := strings.CutPrefix(s.opts.Addr, "unix:"); ok {
		if fi, serr := os.Stat(p); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(p)
		}
		ln, err = net.Listen("unix", p)
		if err == nil {
			err = os.Chmod(p, 0o660)
		}
	} else {
		ln, err = net.Listen("tcp", s.opts.Addr)
	}
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (host:port, or unix:/path).
func (s *Server) Addr() string {
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return s.ln.Addr().String()
}

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		if s.ln != nil {
			return s.ln.Close()
		}
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// ServeHTTP checks the token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token != nil && r.URL.Path != "/healthz" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="webhookd"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a bearer token is required"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	v := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256(s.opts.Token)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) apiEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		writeError(w, fmt.Errorf("event %q: %w", id, store.ErrNotFound))
		return
	}
	ev, err := s.opts.Store.GetEvent(id, true)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.eventJSON(ev)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// StatusJSON is GET /api/status.
type StatusJSON struct {
	Status
	UptimeSeconds int64                 `json:"uptime_seconds"`
	Jobs          map[store.State]int64 `json:"jobs"`
	Running       int                   `json:"running"`
	Paused        []string              `json:"paused"`
	Events        int                   `json:"events"`
	DatabaseBytes int64                 `json:"database_bytes"`
	OldestQueued  string                `json:"oldest_queued_job,omitempty"`
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.opts.Store.Stats()
	if err != nil {
		writeError(w, err)
		return
	}
	status := s.opts.Status()
	out := StatusJSON{
		Status: status, Jobs: st.Jobs, Running: len(s.opts.Scheduler.Running()), Paused: s.opts.Scheduler.Paused(),
		Events: st.Events, DatabaseBytes: st.FileSize, OldestQueued: st.OldestQueue,
	}
	if !status.Started.IsZero() {
		out.UptimeSeconds = int64(time.Since(status.Started).Seconds())
	}
	writeJSON(w, http.StatusOK, out)
}

// writeError maps an error to its status: the one place that does.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrState), errors.Is(err, actions.ErrNoActions):
		status = http.StatusConflict
	case errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case store.IsWriteError(err), errors.Is(err, store.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

var errBadRequest = errors.New("bad request")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
