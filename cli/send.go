package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/wire"
	"github.com/webhookd/webhookd/listener"
)

func cmdSend() *Command {
	c := &Command{
		Name:    "send",
		Args:    "[-config FILE] [-event TYPE] [-url URL] HOOK [PAYLOAD]",
		Summary: "send a test delivery, signed as HOOK's provider signs it (body: PAYLOAD, @FILE or stdin)",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		path := ConfigFlag(fs, env.Getenv)
		event := fs.String("event", "", "the event `type` (default: the body's own, for providers that read it from the body; else the hook's first events entry, else \"test\")")
		delivery := fs.String("delivery", "", "the delivery `id` (default: a new random one, so it is never a duplicate)")
		target := fs.String("url", "", "send to this `URL` instead of the hook's own on the public listener")
		ctype := fs.String("content-type", "", "the body's content `type` (default: application/json for JSON, else form or text)")
		timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the answer")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) < 1 || len(pos) > 2 {
			return &UsageError{Msg: "usage: webhookd send " + c.Args}
		}
		if *timeout <= 0 {
			return &UsageError{Msg: fmt.Sprintf("-timeout %v: want a wait longer than 0, such as 30s", *timeout)}
		}
		cfg, err := config.LoadClient(*path)
		if err != nil {
			return ConfigHint(err, *path)
		}
		h := cfg.Hook(pos[0])
		if h == nil {
			var ids []string
			for _, h := range cfg.Hooks {
				ids = append(ids, h.ID)
			}
			return fmt.Errorf("%s has no hook %q (it has: %s)", cfg.File, pos[0], strings.Join(ids, ", "))
		}
		payload := ""
		if len(pos) == 2 {
			payload = pos[1]
		}
		body, err := sendBody(env, payload)
		if err != nil {
			return err
		}
		d := sendOpts{event: *event, id: *delivery, contentType: *ctype, url: *target, timeout: *timeout}
		return send(ctx, env, cfg, h, body, d)
	}
	return c
}

// sendOpts is what send sends, beyond the body.
type sendOpts struct {
	event, id, contentType, url string
	timeout                     time.Duration
}

// sendBody reads the body: PAYLOAD itself, @FILE, or stdin ("-", or no
// PAYLOAD with stdin not a terminal).
func sendBody(env *Env, payload string) ([]byte, error) {
	switch {
	case strings.HasPrefix(payload, "@"):
		b, err := os.ReadFile(payload[1:])
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		return b, nil
	case payload == "-" || (payload == "" && !isTerminal(env.Stdin)):
		b, err := io.ReadAll(io.LimitReader(env.Stdin, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("payload from stdin: %w", err)
		}
		return b, nil
	case payload == "":
		return nil, &UsageError{Msg: "give a PAYLOAD ('{\"ref\":\"refs/heads/main\"}', @file.json), or pipe the body in"}
	}
	return []byte(payload), nil
}

func send(ctx context.Context, env *Env, cfg *config.Client, h *config.ClientHook, body []byte, d sendOpts) error {
	secrets, err := h.Secrets()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.File, err)
	}
	p, err := listener.NewProvider(wire.ProviderConfig(h.Provider, h.Params, secrets))
	if err != nil {
		return fmt.Errorf("hook %q: %w", h.ID, err)
	}
	signer, ok := p.(listener.Signer)
	if !ok {
		return fmt.Errorf("hook %q: provider %s cannot sign a test delivery", h.ID, h.Provider)
	}
	u, err := hookURL(cfg, h, d.url)
	if err != nil {
		return err
	}
	if d.event == "" {
		// A body that names its own type (Stripe's "type", Slack's
		// event) keeps it: signing writes the event into the body for
		// such providers, and a sample payload would turn into "test".
		hdr := http.Header{"Content-Type": {contentType(d.contentType, body)}}
		d.event = p.Event(&listener.Request{Header: hdr, Body: body, URL: u, Now: time.Now()})
	}
	if d.event == "" {
		d.event = "test"
		if len(h.Events) > 0 {
			d.event = h.Events[0]
		}
	}
	if d.id == "" {
		var b [12]byte
		rand.Read(b[:])
		d.id = "send-" + hex.EncodeToString(b[:])
	}
	sg := &listener.Signing{Header: http.Header{}, URL: u, Body: body, Event: d.event, Delivery: d.id, Now: time.Now()}
	sg.Header.Set("Content-Type", contentType(d.contentType, body))
	sg.Header.Set("User-Agent", "webhookd-send")
	if err := signer.Sign(sg); err != nil {
		return fmt.Errorf("hook %q: sign: %w", h.ID, err)
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sg.URL.String(), bytes.NewReader(sg.Body))
	if err != nil {
		return err
	}
	req.Header = sg.Header
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if d.url == "" {
		// The listener of this config, whatever name its certificate
		// has the URL give: reached here, not where that name's DNS
		// points (a router may not loop back to the public address).
		tr.Proxy = nil
		tr.DialContext = dialHere(cfg.ServerListen)
		if cfg.TLS {
			// The certificate the config says the listener serves is
			// trusted as well as the system's roots: a self-signed one
			// (or one from a private CA) is then no error, and this is
			// the listener send dials.
			if roots := listenerRoots(cfg.TLSCert); roots != nil {
				tr.TLSClientConfig = &tls.Config{RootCAs: roots}
			}
		}
	}
	client := &http.Client{
		Transport: tr,
		// Show a redirect rather than follow it: a sender would not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The event type as the listener will read it from the signed
	// request: none, for a provider that carries no type.
	event := "no event type"
	if e := p.Event(&listener.Request{Header: sg.Header, Body: sg.Body, URL: sg.URL, Now: sg.Now}); e != "" {
		event = fmt.Sprintf("event %q", e)
	}
	fmt.Fprintf(env.Stderr, "POST %s (%s, %s, delivery %s, %d bytes)\n", redactURL(sg.URL), h.Provider, event, d.id, len(sg.Body))
	res, err := client.Do(req)
	if err != nil {
		// The error names the URL, with the token a token hook takes in
		// its query: name it as the line above does.
		hint := ""
		if errors.Is(err, syscall.ECONNREFUSED) && d.url == "" {
			hint = fmt.Sprintf(" (is webhookd running? nothing listens at the config's [server] listen, %s)", cfg.ServerListen)
		}
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			// The request may have reached the listener, and been
			// stored, before the wait ran out.
			return fmt.Errorf("send to hook %q: POST %s: no answer within %v (-timeout); the delivery may have been stored all the same: look with webhookd events before sending it again, or give -timeout more", h.ID, redactURL(sg.URL), d.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("send to hook %q: %s %s: %w%s", h.ID, ue.Op, redactURL(sg.URL), ue.Err, hint)
		}
		return fmt.Errorf("send to hook %q: %w", h.ID, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s %s\n", res.Proto, res.Status)
	if len(answer) > 0 {
		env.Stdout.Write(answer)
		if answer[len(answer)-1] != '\n' {
			fmt.Fprintln(env.Stdout)
		}
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("hook %q answered %s", h.ID, res.Status)
	}
	return nil
}

// hookURL is where a delivery for h goes: -url, or the hook's path on the
// public listener (reached on loopback when it listens on every address).
func hookURL(cfg *config.Client, h *config.ClientHook, override string) (*url.URL, error) {
	if override != "" {
		u, err := url.Parse(override)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("-url %q: want http://host[:port]/path or https://...", override)}
		}
		return u, nil
	}
	host, port, err := net.SplitHostPort(cfg.ServerListen)
	if err != nil {
		return nil, fmt.Errorf("%s: [server] listen %q: %w", cfg.File, cfg.ServerListen, err)
	}
	scheme := "http"
	switch {
	case len(cfg.ACMEDomains) > 0:
		// The certificate names the domain, not this machine's address.
		scheme, host, port = "https", cfg.ACMEDomains[0], ""
		if p := listenPort(cfg.ServerListen); p != "443" {
			port = p
		}
	case cfg.TLS:
		scheme = "https"
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		if name := certName(cfg.TLSCert, host); name != "" {
			// A certificate for the public name, not this machine: ask
			// for that name, and reach it here (see dialHere).
			return &url.URL{Scheme: scheme, Host: net.JoinHostPort(name, port), Path: h.Path}, nil
		}
	case host == "" || host == "0.0.0.0":
		host = "127.0.0.1"
	case host == "::":
		host = "::1"
	}
	hostport := host
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	return &url.URL{Scheme: scheme, Host: hostport, Path: h.Path}, nil
}

// certName is the name to ask the public listener for when its
// certificate (the PEM file cert) does not name host, the address send
// reaches it at: the certificate's first DNS name, or IP address. "" when the
// certificate names host, or cannot be read (the request then says why).
func certName(cert, host string) string {
	if cert == "" {
		return ""
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		return ""
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return ""
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || c.VerifyHostname(host) == nil {
		return ""
	}
	switch {
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String() // a certificate for the public address
	}
	return ""
}

// listenerRoots is the system's roots and the certificates of the PEM
// file cert (the listener's certificate and its chain); nil when cert
// cannot be read, or holds none (the request then says why).
func listenerRoots(cert string) *x509.CertPool {
	b, err := os.ReadFile(cert)
	if err != nil {
		return nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(b) {
		return nil
	}
	return roots
}

// dialHere connects to the public listener's own address whatever name
// the URL gives (as curl --resolve does): the TLS handshake and the Host
// header still carry the name its certificate is for.
func dialHere(listen string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, _ := net.SplitHostPort(listen)
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}

func listenPort(listen string) string {
	_, p, _ := net.SplitHostPort(listen)
	return p
}

// contentType is the body's type: as given, else JSON, a form, or text.
func contentType(given string, body []byte) string {
	switch {
	case given != "":
		return given
	case json.Valid(body):
		return "application/json"
	}
	if q, err := url.ParseQuery(string(body)); err == nil && len(q) > 0 && !bytes.ContainsAny(body, " \n") {
		return "application/x-www-form-urlencoded"
	}
	return "text/plain; charset=utf-8"
}

// redactURL hides query values (a token provider puts its secret there).
func redactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q.Set(k, "…")
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
