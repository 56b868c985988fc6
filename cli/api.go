package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

// errNotRunning is no daemon answering on the admin address.
var errNotRunning = errors.New("no webhookd answers")

// bounds are how long a command waits on the admin API.
type bounds struct {
	// connect is how long a connection may take to be accepted.
	connect time.Duration
	// answer is how long a request may wait for the answer to begin (its
	// status and headers). What follows is not bounded: a backup streams
	// for as long as its data flows.
	answer time.Duration
	// slowAnswer is answer for a cancel, which the daemon answers once a
	// running command has stopped: up to its kill grace (10s) and 5s more.
	slowAnswer time.Duration
	// idle is how long an answer that has begun may send nothing before
	// it is given up on: a bound on each wait for more of it, not on the
	// whole, so that a long stream (a backup over a slow link, a bulk
	// replay) goes on for as long as its data flows. 0: no bound.
	idle time.Duration
}

// defaultBounds are every command's; tests make them short.
var defaultBounds = bounds{connect: 5 * time.Second, answer: 10 * time.Second, slowAnswer: 30 * time.Second, idle: 60 * time.Second}

// adminClient talks to a running daemon's admin API.
type adminClient struct {
	addr     string // as configured: host:port or unix:/path
	base     string // URL prefix of requests
	hc       *http.Client
	bounds   bounds
	token    []byte
	tokenErr error // why the config's token could not be read
	// unreachable, when set, is why no request is made: the config names
	// no address a command can reach (errNotRunning, so that the commands
	// that can read the database itself do). It is a plain error, or an
	// adminHinted one when it tells to give -admin ADDR already.
	unreachable error
}

// adminHinted is an error whose text already tells the user to give
// -admin ADDR, so that none is added to it.
type adminHinted struct{ error }

func (e adminHinted) Unwrap() error { return e.error }

// apiFlags are the flags of every command that talks to the admin API.
type apiFlags struct {
	config *string
	admin  *string
	json   *bool
}

func addAPIFlags(fs *flag.FlagSet, env *Env) *apiFlags {
	return &apiFlags{
		config: ConfigFlag(fs, env.Getenv),
		admin:  fs.String("admin", "", "the admin listener's `address` (host:port or unix:/path); default: the config's [admin] listen"),
		json:   fs.Bool("json", false, "print JSON, for scripts"),
	}
}

// dial reads the config leniently and makes the admin client. The token
// comes from the config's [admin] token; one that cannot be read (an env:
// variable not set in this shell) is reported only if the daemon asks.
func (f *apiFlags) dial() (*config.Client, *adminClient, error) {
	cfg, err := config.LoadClient(*f.config)
	if err != nil {
		return nil, nil, ConfigHint(err, *f.config)
	}
	addr := cfg.AdminListen
	if *f.admin != "" {
		addr = *f.admin
	}
	c := &adminClient{addr: addr, bounds: defaultBounds}
	tok, err := cfg.AdminToken()
	switch {
	case err != nil:
		c.tokenErr = err
	case tok != nil:
		c.token = tok.Value()
	}
	if addr == "off" {
		c.unreachable = errors.New("the admin listener is off in the config")
		return cfg, c, nil
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" && *f.admin == "" {
		// The daemon takes a port the system chooses at each start,
		// which the config cannot tell.
		c.unreachable = adminHinted{fmt.Errorf("the config's [admin] listen %s lets the daemon choose its port at start: give -admin ADDR (its log's \"admin listening\" line names it)", addr)}
		return cfg, c, nil
	}
	dialer := &net.Dialer{Timeout: c.bounds.connect}
	tr := &http.Transport{Proxy: nil, DialContext: dialer.DialContext, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", p)
		}
		c.base = "http://localhost"
	} else {
		host, port, err := net.SplitHostPort(addr)
		if n, lerr := net.LookupPort("tcp", port); err == nil && lerr == nil && *f.admin == "" {
			// The config's port may be a service's name ("http"), which
			// its check accepts and the daemon binds as its number.
			port = strconv.Itoa(n)
		}
		if n, perr := strconv.ParseUint(port, 10, 16); err == nil && (perr != nil || n == 0) {
			err = fmt.Errorf("port %q", port)
		}
		if err != nil {
			return nil, nil, &UsageError{Msg: fmt.Sprintf("admin address %q: want host:port or unix:/path", addr)}
		}
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::", "[::]":
			host = "::1"
		}
		c.base = "http://" + net.JoinHostPort(host, port)
	}
	c.hc = &http.Client{Transport: tr}
	return cfg, c, nil
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// request sends a request and returns the answer, checking its status.
// The answer must begin within the client's answer bound; its body is
// not bounded. The caller closes the body.
func (c *adminClient) request(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	return c.requestWithin(ctx, method, path, q, c.bounds.answer)
}

// requestWithin is request with the answer's bound given.
func (c *adminClient) requestWithin(ctx context.Context, method, path string, q url.Values, within time.Duration) (*http.Response, error) {
	if c.unreachable != nil {
		return nil, fmt.Errorf("%w: %w", errNotRunning, c.unreachable)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	// The request's own context, ended when the answer did not begin in
	// time, and else when its body is closed. Once the request is handed
	// to a connection, it may reach the daemon: from then on, an answer
	// not read does not mean a change not made.
	rctx, cancel := context.WithCancel(ctx)
	var handed atomic.Bool
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { handed.Store(true) }})
	req, err := http.NewRequestWithContext(rctx, method, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if c.token != nil {
		req.Header.Set("Authorization", "Bearer "+string(c.token))
	}
	req.Header.Set("Accept", "application/json")
	// mayBeMade adds to err, an answer not read, that the change asked
	// for may be made all the same: the request may have reached a daemon
	// that is slow, not stuck, and asking again could do it twice. (A dry
	// run, though a POST, changes nothing.)
	mayBeMade := func(err error) error {
		if handed.Load() && changes(method, q) {
			return fmt.Errorf("%w; the change it asked for may still be made: look (webhookd show, events) before asking again", err)
		}
		return err
	}
	timer := time.AfterFunc(within, cancel)
	res, err := c.hc.Do(req)
	if !timer.Stop() {
		// The bound passed first: whatever came, came too late.
		if err == nil {
			res.Body.Close()
		}
		cancel()
		return nil, mayBeMade(fmt.Errorf("the admin API at %s did not answer within %v: the daemon is stuck, or something other than webhookd listens there (-admin ADDR names another address)", c.addr, within))
	}
	if err != nil {
		cancel()
		var oe *net.OpError
		switch {
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT):
			return nil, fmt.Errorf("%w at %s", errNotRunning, c.addr)
		case errors.Is(err, syscall.EACCES) && strings.HasPrefix(c.addr, "unix:"):
			return nil, socketDenied(strings.TrimPrefix(c.addr, "unix:"))
		case errors.As(err, &oe) && oe.Op == "dial" && oe.Timeout():
			return nil, fmt.Errorf("the admin API at %s did not accept a connection within %v (-admin ADDR names another address)", c.addr, c.bounds.connect)
		case ctx.Err() != nil:
			// Ctrl-C, or a hangup (main makes both end ctx).
			return nil, mayBeMade(fmt.Errorf("interrupted (%v) before the admin API at %s answered", context.Cause(ctx), c.addr))
		}
		// What went wrong, without the URL the user never wrote (the
		// request is named instead).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, mayBeMade(fmt.Errorf("the admin API at %s closed the connection before it answered %s %s: %w", c.addr, method, path, err))
		}
		return nil, mayBeMade(fmt.Errorf("admin API at %s, %s %s: %w", c.addr, method, path, err))
	}
	res.Body = newAnswerBody(res.Body, cancel, c.bounds.idle,
		fmt.Errorf("the admin API at %s began to answer, then sent nothing for %v: the daemon is stuck, or something other than webhookd listens there", c.addr, c.bounds.idle))
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("admin API %s %s: %s: %w", method, path, res.Status, err)
		}
		var e struct{ Error string }
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if res.StatusCode == http.StatusUnauthorized {
			switch {
			case c.tokenErr != nil:
				msg += " (the admin token could not be read: " + c.tokenErr.Error() + ")"
			case c.token == nil:
				msg += " (the config sets no [admin] token)"
			default:
				msg += " (the config's [admin] token is not the daemon's)"
			}
		}
		if res.StatusCode == http.StatusBadRequest {
			return nil, &UsageError{Msg: msg} // a flag's value the daemon refused
		}
		return nil, &apiError{Status: res.StatusCode, Msg: msg}
	}
	return res, nil
}

// socketDenied explains a connection to the admin socket at path that
// its permissions refused: whose it is, and what to do.
func socketDenied(path string) error {
	const do = "run the command as that user or a member of that group (sudo webhookd …)"
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("the admin socket %s is not open to this user (%v): its directory lets only webhookd's user and group in: %s", path, syscall.EACCES, do)
	}
	owner, group := "?", "?"
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner, group = strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10)
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
		if g, err := user.LookupGroupId(group); err == nil {
			group = g.Name
		}
	}
	return fmt.Errorf("the admin socket %s is not open to this user (%v): it is %s's, group %s, mode %04o: %s", path, syscall.EACCES, owner, group, fi.Mode().Perm(), do)
}

// changes reports whether a request asks the daemon for a change: a POST
// but a dry run's.
func changes(method string, q url.Values) bool {
	return method != http.MethodGet && method != http.MethodHead && q.Get("dry_run") != "true"
}

// answerBody is an answer's body. Closing it ends its request's context;
// so does a read that waits longer than idle for data (if idle > 0), and
// that read and every one after it fail with stall. Only the waits in
// Read count: a reader that takes its time between reads (writing a
// backup to a slow disk) is not the daemon stalling.
type answerBody struct {
	rc    io.ReadCloser
	close context.CancelFunc
	idle  time.Duration
	stall error
	timer *time.Timer // nil: no idle bound
	fired atomic.Bool
}

func newAnswerBody(rc io.ReadCloser, cancel context.CancelFunc, idle time.Duration, stall error) *answerBody {
	b := &answerBody{rc: rc, close: cancel, idle: idle, stall: stall}
	if idle > 0 {
		b.timer = time.AfterFunc(idle, func() { b.fired.Store(true); cancel() })
		b.timer.Stop()
	}
	return b
}

func (b *answerBody) Read(p []byte) (int, error) {
	if b.timer == nil {
		return b.rc.Read(p)
	}
	if b.fired.Load() {
		return 0, b.stall
	}
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	if !b.timer.Stop() {
		// The bound passed first: the request is ended, and what came,
		// came too late.
		b.fired.Store(true)
		return 0, b.stall
	}
	return n, err
}

func (b *answerBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.close()
	return err
}

// call sends a request and decodes its JSON answer into out.
func (c *adminClient) call(ctx context.Context, method, path string, q url.Values, out any) error {
	return c.callWithin(ctx, method, path, q, out, c.bounds.answer)
}

// callWithin is call with the answer's bound given.
func (c *adminClient) callWithin(ctx context.Context, method, path string, q url.Values, out any, within time.Duration) error {
	return c.receive(ctx, method, path, q, within, func(r io.Reader) error { return json.NewDecoder(r).Decode(out) })
}

// receive sends a request and reads its JSON answer with decode.
func (c *adminClient) receive(ctx context.Context, method, path string, q url.Values, within time.Duration, decode func(io.Reader) error) error {
	res, err := c.requestWithin(ctx, method, path, q, within)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := decode(res.Body); err != nil {
		err = fmt.Errorf("admin API %s %s: decode the answer: %w", method, path, err)
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%v) while the admin API at %s answered", context.Cause(ctx), c.addr)
		}
		if changes(method, q) {
			// The status came: the daemon did what it was asked.
			err = fmt.Errorf("%w; the daemon answered %s, so the change was made: look (webhookd show, events) for what it did", err, res.Status)
		}
		return err
	}
	return nil
}

// openOffline opens the database read-only, for reading commands when no
// daemon runs. It says so on stderr.
func openOffline(env *Env, cfg *config.Client, why error) (*store.Store, error) {
	st, err := store.Open(cfg.StorePath, store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) && !errors.As(why, new(adminHinted)) {
		// A daemon holds it, and answers elsewhere: its [admin] listen
		// changed in the file and it was not restarted, say. (Said
		// once: why says it already for an [admin] listen of port 0.)
		return nil, fmt.Errorf("%v; reading the database instead: %w; if it is a daemon, reach it with -admin ADDR (its log's \"admin listening\" line names the address)", why, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%v; reading the database instead: %w", why, err)
	}
	fmt.Fprintf(env.Stderr, "webhookd: %v; reading %s directly\n", why, cfg.StorePath)
	return st, nil
}
