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

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/gctune"
	"github.com/webhookd/webhookd/internal/wire"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
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
	gctune.Apply(os.Getenv) // as webhookd serve runs
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

// listenerConfig maps a config onto the listener exactly as the daemon
// does (internal/wire).
func listenerConfig(cfg *config.Config) (*listener.Config, error) {
	lcfg, _, err := wire.Build(cfg)
	return lcfg, err
}
