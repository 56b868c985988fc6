package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// listenLoopback binds addr, which must be a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	if _, err := parseTarget("http://" + addr + "/"); err != nil {
		return nil, &usageError{err.Error()}
	}
	return net.Listen("tcp", addr)
}

// serveUntil serves srv on ln until ctx ends, then shuts it down.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runBare serves the HTTP ceiling: a net/http handler that reads the body
// and answers 200, with the same server timeouts as webhookd's listener.
func runBare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	ln, err := listenLoopback(*addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           bareHandler{},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stderr, "msg=listening addr=%s\n", ln.Addr())
	return serveUntil(ctx, srv, ln)
}

// bareHandler reads the whole body and answers 200 with a small JSON body.
type bareHandler struct{}

func (bareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"ok":true}`+"\n")
}

// runServe serves webhookd's real listener over its real store, wired from
// a webhookd config file as the daemon wires it (without the scheduler,
// admin and metrics), so that group commit and one commit per request can
// be compared in the same process shape.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "webhookd config file (its [server] listen and [store] path are used)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (overrides the config's)")
	noGroup := fs.Bool("no-group-commit", false, "commit each event in its own transaction (store.Options.NoGroupCommit)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	traceFile := fs.String("trace", "", "write an execution trace of the whole run to this file")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	cfg, _, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := store.Open(cfg.Store.Path, store.Options{Logger: log.With("part", "store"), NoGroupCommit: *noGroup})
	if err != nil {
		return err
	}
	defer st.Close()
	lcfg, err := listenerConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := parseTarget("http://" + *addr + "/"); err != nil {
		return &usageError{err.Error()}
	}
	lis := listener.New(listener.Options{Addr: *addr, Store: st, Logger: log.With("part", "listener")}, lcfg)
	if err := lis.Open(); err != nil {
		return err
	}
	var commits, events int
	var commitTime time.Duration
	var sizes [8]int // commits by events: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+
	counted := make(chan struct{})
	stopCount := make(chan struct{})
	go func() {
		defer close(counted)
		for {
			select {
			case c := <-st.Commits():
				if c.Events > 0 {
					commits++
					events += c.Events
					commitTime += c.Duration
					i := 0
					for n := c.Events; n > 1 && i < len(sizes)-1; n >>= 1 {
						i++
					}
					sizes[i]++
				}
			case <-stopCount:
				return
			}
		}
	}()
	defer func() {
		close(stopCount)
		<-counted
		if commits > 0 {
			fmt.Fprintf(stderr, "msg=commits commits=%d events=%d events_per_commit=%.1f commit_ms=%.3f by_size=%v\n",
				commits, events, float64(events)/float64(commits), float64(commitTime.Microseconds())/float64(commits)/1e3, sizes)
		}
	}()
	fmt.Fprintf(stderr, "msg=listening addr=%s no_group_commit=%v\n", lis.Addr(), *noGroup)
	errc := make(chan error, 1)
	go func() { errc <- lis.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lis.Shutdown(sctx); err != nil {
		return err
	}
	return <-errc
}

// listenerConfig maps a config onto the listener as main.build does, for
// the parts the benchmark's configs use (provider, secrets, events, and
// each action's when and key through actions.Config.Plan).
func listenerConfig(cfg *config.Config) (*listener.Config, error) {
	var acts []*actions.Action
	for _, h := range cfg.Hooks {
		for _, a := range h.Actions {
			acts = append(acts, &actions.Action{
				Hook: h.ID, Name: a.Name, When: a.When, Key: a.Key, Run: a.Run, Dir: a.Dir,
				Timeout: a.Timeout, Concurrency: a.Concurrency, Coalesce: a.Coalesce, Retries: a.Retries, Backoff: a.Backoff,
			})
		}
	}
	acfg := actions.NewConfig(acts)
	lcfg := &listener.Config{TrustedProxies: cfg.Server.TrustedProxies, RateLimit: cfg.Server.RateLimit}
	for _, h := range cfg.Hooks {
		pc := listener.ProviderConfig{Name: h.Provider, Header: h.Params.Header, Algorithm: h.Params.Algorithm,
			Encoding: h.Params.Encoding, Prefix: h.Params.Prefix, EventHeader: h.Params.EventHeader,
			DeliveryHeader: h.Params.DeliveryHeader, AllowSHA1: h.Params.AllowSHA1}
		for _, s := range h.Secrets {
			pc.Secrets = append(pc.Secrets, s.Value())
		}
		p, err := listener.NewProvider(pc)
		if err != nil {
			return nil, fmt.Errorf("hook %q: %w", h.ID, err)
		}
		var events map[string]bool
		if len(h.Events) > 0 {
			events = map[string]bool{}
			for _, e := range h.Events {
				events[e] = true
			}
		}
		id := h.ID
		lcfg.Hooks = append(lcfg.Hooks, &listener.Hook{
			ID: h.ID, Path: h.Path, Provider: p, Events: events, AllowIPs: h.AllowIPs, MaxBody: h.MaxBody,
			Plan: func(d *tmpl.Data) []store.NewJob { return acfg.Plan(id, d) },
		})
	}
	return lcfg, nil
}
