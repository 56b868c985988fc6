package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/webhookd/webhookd/internal/redact"
	"github.com/webhookd/webhookd/internal/stdwh"
	"github.com/webhookd/webhookd/internal/textcut"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// maxResponse is how much of an HTTP action's response body is kept.
const maxResponse = 64 << 10

// newHTTPClient makes the client HTTP actions share. It does not follow
// redirects: a webhook relay should be pointed at its final address.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	tr.ResponseHeaderTimeout = 0 // the action's timeout bounds the whole request
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// runHTTP makes an HTTP request attempt.
func (s *Scheduler) runHTTP(ctx context.Context, in *runInput) result {
	a := in.action
	started := s.now()
	fail := func(permanent bool, format string, args ...any) result {
		return result{run: store.Run{Started: started, Finished: s.now(), Result: store.RunFailed, Error: fmt.Sprintf(format, args...)}, permanent: permanent}
	}
	url, err := a.URL.Execute(in.data)
	if err != nil {
		return fail(true, "url: %v; nothing was sent", quoting(err, redact.URL))
	}
	body := in.event.Body
	contentType := in.event.ContentType
	if a.Body != nil {
		b, err := a.Body.Execute(in.data)
		if err != nil {
			return fail(true, "body: %v; nothing was sent", quoting(err, nil))
		}
		body = []byte(b)
		contentType = "text/plain; charset=utf-8"
		if json.Valid(body) {
			contentType = "application/json"
		}
	}
	rctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, a.Method, url, bytes.NewReader(body))
	if err != nil {
		return fail(true, "request: %v; nothing was sent", redactErr(err))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		// The client would refuse it, every retry alike.
		return fail(true, "url %q is not an http:// or https:// URL; nothing was sent", redact.URL(url))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "webhookd")
	for _, h := range a.Headers {
		v, err := h.Value.Execute(in.data)
		if err != nil {
			return fail(true, "header %s: %v; nothing was sent", h.Name, quoting(err, nil))
		}
		if !validHeaderValue(v) {
			// The client would refuse it, every retry alike.
			return fail(true, "header %s: its value holds a line break or another control character; nothing was sent", h.Name)
		}
		if strings.EqualFold(h.Name, "Host") {
			if !httpguts.ValidHostHeader(v) {
				// The client would send an empty Host instead.
				return fail(true, "header %s: its value is not a host; nothing was sent", h.Name)
			}
			req.Host = v // the client sends this, not a Host in Header
			continue
		}
		req.Header.Set(h.Name, v)
	}
	if a.SignKey != nil {
		// The message id is the job's, with the database's name: the same
		// across retries, so the receiver can de-duplicate, and unlike
		// another webhookd's (job ids are unique within one database).
		id := "msg_" + s.st.Instance() + "_" + in.job.ID
		ts := s.now().Unix()
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", "v1,"+stdwh.Signature(a.SignKey, id, ts, body))
	}
	started = s.now()
	resp, err := s.client.Do(req)
	if err != nil {
		r := result{run: store.Run{Started: started, Finished: s.now(), Result: store.RunFailed, Error: redactErr(err).Error()}}
		if ctx.Err() != nil {
			r.run.Result = store.RunInterrupted
			r.cancelled = context.Cause(ctx) == errCancelled
			r.interrupted = !r.cancelled
			r.run.Error = context.Cause(ctx).Error()
		} else if rctx.Err() != nil {
			r.run.Error = fmt.Sprintf("timed out after %s", a.Timeout)
		}
		return r
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	// A body cut off (by the timeout, or the connection) is kept as far
	// as it came, and marked as not all of it.
	truncated := len(respBody) > maxResponse || err != nil
	if len(respBody) > maxResponse {
		respBody = textcut.Cut(respBody, maxResponse)
	}
	r := result{run: store.Run{Started: started, Finished: s.now(), Status: resp.StatusCode, Output: respBody, Truncated: truncated}}
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		r.ok = true
		r.run.Result = store.RunSucceeded
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		r.run.Result = store.RunFailed
		r.run.Error = "HTTP " + strconv.Itoa(code)
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	case code >= 300 && code < 400:
		r.run.Result = store.RunFailed
		r.run.Error = fmt.Sprintf("HTTP %d redirect to %q: point url at the final address", code, redact.URL(resp.Header.Get("Location")))
		r.permanent = true
	default:
		r.run.Result = store.RunFailed
		r.run.Error = fmt.Sprintf("HTTP %d: the receiver refused the request; not retried", code)
		r.permanent = true
	}
	return r
}

// validHeaderValue reports whether net/http sends v as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// quoting is a template's render error quoting its source as quote has it,
// or not at all (quote nil): an HTTP action's url, headers and body hold
// credentials (a webhook URL's path, an Authorization header), and the
// error is stored, logged and shown. What went wrong, and the key, stay.
func quoting(err error, quote func(string) string) error {
	var re *tmpl.RenderError
	if !errors.As(err, &re) {
		return err
	}
	if quote == nil {
		return errors.New(re.Msg)
	}
	return &tmpl.RenderError{Template: quote(re.Template), Msg: re.Msg}
}

// redactErr is err with the URL it quotes (the client's errors do) cut to
// scheme and host: the errors are stored, logged and shown, and the rest of
// a URL can be a credential.
func redactErr(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = redact.URL(ue.URL)
		return &c
	}
	return err
}

// maxRetryAfter caps the wait a receiver's Retry-After asks for.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After as seconds or an HTTP date, capped at
// maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Seconds: compared before they are multiplied, which could
		// wrap to a negative wait.
		if err != nil || n >= uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
