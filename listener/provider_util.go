package listener

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Helpers the providers share: reading signature headers, decoding
// signatures, timestamp windows, and reading or setting fields of a JSON
// body.

// sigHeader returns the one value of a signature header. A missing or
// empty header is ErrNoSignature; a repeated or oversized one is
// ErrMalformed.
func sigHeader(h http.Header, name string) (string, error) {
	v, err := single(h, name)
	if err != nil {
		return "", err
	}
	if len(v) > maxSignatureHeader {
		return "", fmt.Errorf("%w: %s header is too long", ErrMalformed, name)
	}
	return v, nil
}

// present returns the first of names that h carries, or "".
func present(h http.Header, names ...string) string {
	for _, n := range names {
		if len(h.Values(n)) > 0 {
			return n
		}
	}
	return ""
}

// firstValue returns the first non-empty value among the headers names.
func firstValue(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// decodeHexSig decodes a lower-case hex signature of want bytes. Every
// sender writes lower-case, and their own SDKs compare the text, so
// upper-case is refused as they refuse it.
func decodeHexSig(what, s string, want int) ([]byte, error) {
	if !isLowerHex(s) {
		return nil, fmt.Errorf("%w: %s is not lower-case hex", ErrMalformed, what)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not hex", ErrMalformed, what)
	}
	if len(b) != want {
		return nil, fmt.Errorf("%w: %s is %d bytes; want %d", ErrMalformed, what, len(b), want)
	}
	return b, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// decodeBase64Sig decodes a standard, padded base64 signature of want
// bytes. Only the canonical encoding is accepted (the decoder would let
// other text through: unused low bits, line breaks), so that one signature
// has one spelling.
func decodeBase64Sig(what, s string, want int) ([]byte, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrMalformed, what)
	}
	if len(b) != want {
		return nil, fmt.Errorf("%w: %s is %d bytes; want %d", ErrMalformed, what, len(b), want)
	}
	return b, nil
}

// decodeBase64 decodes canonical, padded standard base64.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("not canonical base64")
	}
	return b, nil
}

// matchAny reports whether one of sigs equals sum(key) for one of keys.
// Each comparison is constant-time.
func matchAny(sigs [][]byte, keys [][]byte, sum func(key []byte) []byte) bool {
	for _, key := range keys {
		want := sum(key)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return true
			}
		}
	}
	return false
}

// orDefault is d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// maxUnixDigits bounds a timestamp's length: a 13-digit number of
// milliseconds reaches the year 2286.
const maxUnixDigits = 13

// parseUnix parses a decimal count of seconds since the epoch (digits
// only: no sign, no space).
func parseUnix(what, s string) (time.Time, error) {
	n, err := parseDigits(what, s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

func parseDigits(what, s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: no %s", ErrNoSignature, what)
	}
	if len(s) > maxUnixDigits {
		return 0, fmt.Errorf("%w: %s is too long", ErrMalformed, what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %s is not a number", ErrMalformed, what)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not a number", ErrMalformed, what)
	}
	return n, nil
}

// inWindow refuses a timestamp more than tol before or after now.
func inWindow(what string, ts, now time.Time, tol time.Duration) error {
	// The times are compared, not their difference: a Duration holds
	// only 292 years, and a timestamp further off would wrap into the
	// window.
	switch {
	case ts.Before(now.Add(-tol)):
		return fmt.Errorf("%w: %s is %s old; the window is %s", ErrStale, what, now.Sub(ts).Truncate(time.Second), tol)
	case ts.After(now.Add(tol)):
		return fmt.Errorf("%w: %s is %s in the future; the window is %s", ErrStale, what, ts.Sub(now).Truncate(time.Second), tol)
	}
	return nil
}

// jsonObject decodes body as a JSON object into v (a struct of the
// fields wanted). It reports false for anything else.
func jsonObject(body []byte, v any) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// jsonString is a JSON value read as text: a string as it is, a number as
// its digits; anything else is "".
type jsonString string

func (s *jsonString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = jsonString(v)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*s = jsonString(b) // a number, as written (the decoder checked it)
	default:
		*s = ""
	}
	return nil
}

// setJSONFields sets top-level fields of a JSON object body (a value nil
// leaves the field as it is) and returns the new body. A body that is not
// a JSON object is returned unchanged: the sender's payload is the user's.
// Keys that differ from a set field only in case are dropped: the decoder
// matches field names without regard to case, and a stale
// "webhooktimestamp" sorted after the new "webhookTimestamp" would win.
func setJSONFields(body []byte, fields map[string]any) []byte {
	var m map[string]json.RawMessage
	if !jsonObject(body, &m) || m == nil {
		return body
	}
	changed := false
	for k, v := range fields {
		if v == nil {
			continue
		}
		if s, ok := v.(string); ok && s == "" {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		for other := range m {
			if other != k && strings.EqualFold(other, k) {
				delete(m, other)
			}
		}
		m[k] = b
		changed = true
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// newID returns a random id for a signed delivery that has none.
func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// deliveryOr is s.Delivery, or a new random id.
func deliveryOr(s *Signing, prefix string) string {
	if s.Delivery == "" {
		s.Delivery = newID(prefix)
	}
	return s.Delivery
}

// setContentType sets a Content-Type unless the caller chose one.
func setContentType(s *Signing, ct string) {
	if s.Header.Get("Content-Type") == "" {
		s.Header.Set("Content-Type", ct)
	}
}
