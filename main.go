// Command webhookd receives webhooks, verifies them, stores each one
// durably before it answers, and runs the configured actions from a
// background scheduler with retries. See README.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/cli"
	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/certs"
	"github.com/webhookd/webhookd/internal/gctune"
	"github.com/webhookd/webhookd/internal/wire"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc".
var (
	version = "dev"
	commit  = ""
)

func main() {
	// SIGINT and SIGTERM stay caught until the process exits (stop is
	// never called), so that on the way out a second one ends nothing:
	// its default action would make a stop that went well look killed.
	// Nor are they ignored then: os/signal's Ignore (or Stop) of a caught
	// signal leaves a moment in which the runtime, no longer catching it
	// and not yet ignoring it, takes its default action.
	//
	// A SIGINT ignored when the process started stays ignored: a shell
	// starts a script's background job so, that Ctrl-C stops only the
	// script, and os/signal's Notify would undo it. SIGTERM is caught
	// whatever it was: a supervisor must be able to stop webhookd.
	stopOn := []os.Signal{syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGINT) {
		stopOn = append(stopOn, syscall.SIGINT)
	}
	ctx, _ := signal.NotifyContext(context.Background(), stopOn...)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		// -h printed the usage asked for.
		return 0
	}
	var ue *cli.UsageError
	usage := errors.As(err, &ue)
	switch err.(type) {
	case config.Errors, *config.Error:
		// FILE:LINE: message, a line each, as editors and CI read them.
		fmt.Fprintln(stderr, err)
	default:
		if !usage || !ue.Printed {
			fmt.Fprintln(stderr, "webhookd:", err)
		}
	}
	if usage {
		return 2
	}
	return 1
}

// run is webhookd: the subcommand in args, with its flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	switch name {
	case "serve":
		return serve(ctx, args, stderr)
	case "help":
		fmt.Fprint(stdout, cli.Usage())
		return nil
	}
	c := cli.Find(name)
	if c == nil {
		return &cli.UsageError{Msg: fmt.Sprintf("unknown command %q\n%s", name, cli.Usage())}
	}
	// A hangup (the ssh session of a backup dropped) stops a command as
	// Ctrl-C does, so that it cleans up: by default it ended the process
	// and left a backup's partial copy behind. Caught until the exit, as
	// in main. (serve reloads on it instead.) Unless it was ignored when
	// the command started (nohup): os/signal's Notify would undo that, and
	// the hangup nohup is for would stop what it was to keep going.
	if !signal.Ignored(syscall.SIGHUP) {
		ctx, _ = signal.NotifyContext(ctx, syscall.SIGHUP)
	}
	env := &cli.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Version: versionString()}
	return c.Run(ctx, env, args)
}

func versionString() string {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("webhookd %s (commit %s, %s, %s/%s)", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newLogger makes the daemon's logger from the config. Its level is a
// LevelVar, so that a reload can change it.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	setLevel(level, c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// setLevel sets v from a validated level name (debug, info, warn, error).
func setLevel(v *slog.LevelVar, name string) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(name))
	v.Set(l)
}

// serve runs the daemon until ctx ends (SIGTERM or SIGINT), then drains.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, cli.Usage(), "\nserve's flags:\n")
		fs.PrintDefaults()
	}
	path := cli.ConfigFlag(fs, os.Getenv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &cli.UsageError{Msg: err.Error(), Printed: true}
	}
	if fs.NArg() != 0 {
		// "webhookd -config FILE check" means check, not a daemon.
		return &cli.UsageError{Msg: fmt.Sprintf("serve takes no arguments (got %q); a command goes first: webhookd COMMAND -config FILE", fs.Arg(0))}
	}
	gctune.Apply(os.Getenv)
	// SIGHUP reloads; caught from the start, since by default it would
	// end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	// Caught until the process exits (as SIGTERM is, in main): a HUP in
	// the last moments of a stop must not end the process as killed.
	rl := config.NewReloader(*path)
	cfg, warnings, err := rl.Load()
	if err != nil {
		return cli.ConfigHint(err, *path)
	}
	// As check does: a pair that does not match is FILE:LINE: message.
	if err := cfg.CheckTLSPair(); err != nil {
		return err
	}
	log, level := newLogger(cfg.Log, stderr)
	for _, w := range warnings {
		log.Warn(w)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o750); err != nil {
		return storeHint(fmt.Errorf("store directory: %w", err))
	}
	// Another process may hold the file's lock: the daemon killed a
	// moment ago (its lock outlives it by some milliseconds), or an
	// offline backup or compact that a start (by systemd, after a reboot
	// or a deploy) should not fail for. The lock cannot tell these from
	// another daemon, so serve waits, saying so once, up to lockWait.
	st, err := store.OpenWait(ctx, cfg.Store.Path, store.Options{Logger: log.With("part", "store"), MinFree: cfg.Store.MinFree}, lockWait, func() {
		log.Warn("waiting for the database file's lock: "+store.ErrLocked.Error(), "store", cfg.Store.Path, "up_to", lockWait.String())
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Stopped before it started: as asked, not a failure.
			log.Info("stopped while waiting for the database file's lock", "store", cfg.Store.Path)
			return nil
		}
		return storeHint(err)
	}
	defer st.Close()

	lcfg, acfg, err := wire.Build(cfg)
	if err != nil {
		return err
	}
	metrics := admin.NewMetrics(st, nil)
	sched := actions.New(actions.Options{Store: st, Logger: log.With("part", "actions"), OnRun: metrics.ObserveRun}, acfg)

	tlsCfg, acme, acmeHTTP, err := publicTLS(cfg.Server, cfg.Store.Path, log.With("part", "tls"))
	if err != nil {
		return err
	}
	lis := listener.New(listener.Options{Addr: cfg.Server.Listen, TLS: tlsCfg, Store: st, Logger: log.With("part", "listener"), OnRequest: metrics.ObserveRequest}, lcfg)
	d := &daemon{rl: rl, lis: lis, sched: sched, st: st, level: level, started: time.Now(), hidden: acfg.HideEnv}
	var adm *admin.Server
	if cfg.Admin.Listen != "off" {
		var token []byte
		if cfg.Admin.Token != nil {
			token = cfg.Admin.Token.Value()
		}
		adm = admin.New(admin.Options{
			Addr: cfg.Admin.Listen, Token: token, Store: st, Scheduler: sched,
			Status: d.status, Rejections: lis.Rejections, Metrics: metrics, Logger: log.With("part", "admin"),
		})
	}
	// Jobs start once every listener is bound: a start that fails for a
	// port starts no queued deploy only to stop it at once (and again at
	// each restart of a restart loop).
	if err := bindAll(lis, acmeHTTP, adm); err != nil {
		return err
	}
	if err := sched.Start(); err != nil {
		closeAll(lis, acmeHTTP, adm)
		return err
	}
	defer sched.Close()

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := lis.Serve(); err != nil {
			errc <- fmt.Errorf("listener: %w", err)
		}
	}()
	log.Info("listening", "addr", lis.Addr().String(), "tls", tlsMode(cfg.Server), "hooks", len(cfg.Hooks), "config", cfg.File, "store", cfg.Store.Path, "version", version)
	if acmeHTTP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := acmeHTTP.Serve(); err != nil {
				errc <- fmt.Errorf("acme_http: %w", err)
			}
		}()
		log.Info("acme http-01 listening", "addr", acmeHTTP.Addr().String())
	}
	if adm != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := adm.Serve(); err != nil {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
		log.Info("admin listening", "addr", adm.Addr())
	}
	bg, stopBG := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case c := <-st.Commits():
				metrics.ObserveCommit(c)
			case <-bg.Done():
				return
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.PruneLoop(bg, 10*time.Minute, d.retention)
	}()
	if acme != nil {
		// The listeners that answer the CA's challenges are bound.
		wg.Add(1)
		go func() {
			defer wg.Done()
			acme.Prefetch(bg)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		gctune.NewIdle().Run(bg)
	}()
	reloads, stopReloads := context.WithCancel(context.Background())
	reloadsDone := make(chan struct{})
	go func() {
		defer close(reloadsDone)
		rl.Run(reloads, config.ReloadOptions{
			Apply: d.apply, Observe: metrics.ObserveReload, Logger: log.With("part", "config"),
			Watch: config.WatchOptions{Poll: 30 * time.Second},
		})
	}()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			rl.Reload("SIGHUP")
		case runErr = <-errc:
			break loop
		}
	}

	// Drain: no more reloads; stop accepting, let running actions finish,
	// then close.
	stopReloads()
	<-reloadsDone
	timeout := d.config().Server.ShutdownTimeout
	log.Info("stopping", "shutdown_timeout", timeout.String())
	deadline, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// No run starts from here on, also while the listener waits for a
	// slow sender: one would only be cut off at the deadline.
	sched.Drain()
	if err := lis.Shutdown(deadline); err != nil {
		log.Warn("listener shutdown", "err", err)
		lis.Close()
	}
	if acmeHTTP != nil {
		acmeHTTP.Shutdown(deadline)
	}
	if n, _ := sched.Shutdown(deadline); n > 0 {
		log.Warn("runs interrupted at shutdown; they run again at the next start", "runs", n)
	}
	if adm != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		adm.Shutdown(actx)
		acancel()
	}
	stopBG()
	wg.Wait()
	if err := st.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	log.Info("stopped")
	return runErr
}

// lockWait is how long serve waits for the database file's lock. Long
// enough for an offline backup or compact of a database of some hundred
// MB to end, where failing would cost a failed start (under systemd, a
// restart loop every RestartSec); short enough that a second daemon
// started on the same file by mistake still fails, and says why.
const lockWait = 30 * time.Second

// bindAll binds the public listener, then acme_http's and the admin
// listener (each when set). When one fails, it closes those it bound
// before it returns the error: serve would return with their ports taken
// (in a process that lives on, for ever).
func bindAll(lis *listener.Listener, acmeHTTP *certs.HTTPServer, adm *admin.Server) error {
	err := lis.Open()
	if err == nil && acmeHTTP != nil {
		err = acmeHTTP.Open()
	}
	if err == nil && adm != nil {
		err = adm.Open()
	}
	if err != nil {
		closeAll(lis, acmeHTTP, adm)
	}
	return err
}

// closeAll closes what bindAll bound, before any of it serves: at a start
// that fails. One not bound is left as it is.
func closeAll(lis *listener.Listener, acmeHTTP *certs.HTTPServer, adm *admin.Server) {
	lis.Close()
	if acmeHTTP != nil {
		acmeHTTP.Close()
	}
	if adm != nil {
		adm.Shutdown(context.Background()) // nothing in flight: at once
	}
}

// storeHint adds to an error opening the database, when it is one of
// permission or a read-only file system, what to change: the systemd
// unit's user may write only its state directory, and a relative
// store.path lands beside the config, which is read-only there.
func storeHint(err error) error {
	if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
		return err
	}
	return fmt.Errorf("%w ([store] path must be a file, in a directory, that the user webhookd runs as can write: /var/lib/webhookd/webhookd.db under the systemd unit, or in the container's volume)", err)
}

// daemon holds what reloads change.
type daemon struct {
	rl      *config.Reloader
	lis     *listener.Listener
	sched   *actions.Scheduler
	st      *store.Store
	level   *slog.LevelVar
	started time.Time
	// hidden is every variable a secret came from in any config applied
	// (see apply); apply alone writes it.
	hidden map[string]bool
}

func (d *daemon) config() *config.Config { return d.rl.Config() }

func (d *daemon) retention() store.Policy {
	c := d.config()
	return store.Policy{MaxAge: c.Store.Retention, MaxSize: c.Store.MaxSize}
}

// apply swaps a reloaded config in (the listener's and the scheduler's
// snapshots); config.Reloader decides when, and reports.
func (d *daemon) apply(cfg *config.Config) error {
	lcfg, acfg, err := wire.Build(cfg)
	if err != nil {
		return err
	}
	// A variable a secret came from stays hidden from commands after a
	// reload that no longer names it: the process's environment still
	// holds it, and it may still be in use (the admin token applies only
	// at a restart) or valid at the sender.
	for name := range d.hidden {
		acfg.HideEnv[name] = true
	}
	d.hidden = acfg.HideEnv
	d.lis.SetConfig(lcfg)
	d.sched.SetConfig(acfg)
	d.st.SetMinFree(cfg.Store.MinFree)
	setLevel(d.level, cfg.Log.Level)
	return nil
}

func (d *daemon) status() admin.Status {
	r := d.rl.Status()
	return admin.Status{
		Version: version, Started: d.started, ConfigFile: d.config().File,
		LastReload: r.Result, LastReloadTime: r.Time, ConfigError: r.Error, RestartNeeded: r.RestartNeeded,
	}
}

// publicTLS makes the public listener's TLS config from [server]: a
// certificate pair re-read when it changes, or ACME with its cache beside
// the database, and then, with acme_http, the plain HTTP server for the
// http-01 challenge. Without either, all are nil: plain HTTP.
func publicTLS(s config.Server, storePath string, log *slog.Logger) (*tls.Config, *certs.ACME, *certs.HTTPServer, error) {
	switch {
	case s.TLSCert != "":
		f, err := certs.LoadFile(s.TLSCert, s.TLSKey, certs.FileOptions{Logger: log})
		if err != nil {
			return nil, nil, nil, err
		}
		return certs.TLSConfig(f.GetCertificate), nil, nil, nil
	case len(s.ACMEDomains) > 0:
		a, err := certs.NewACME(certs.ACMEOptions{
			Domains: s.ACMEDomains, Email: s.ACMEEmail, DirectoryURL: s.ACMEDirectory,
			CacheDir: filepath.Join(filepath.Dir(storePath), "acme"), Logger: log,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		var hs *certs.HTTPServer
		if s.ACMEHTTP != "" {
			_, port, _ := net.SplitHostPort(s.Listen)
			hs = certs.NewHTTPServer(s.ACMEHTTP, a.HTTPHandler(port), log)
		}
		return a.TLSConfig(), a, hs, nil
	}
	return nil, nil, nil, nil
}

func tlsMode(s config.Server) string {
	switch {
	case s.TLSCert != "":
		return "files"
	case len(s.ACMEDomains) > 0:
		return "acme"
	}
	return "off"
}
