package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Data is what templates and expressions see of one event. Build it with the
// exported fields set; the payload is parsed on first use.
type Data struct {
	ID          string
	Hook        string
	Event       string
	Delivery    string
	Received    time.Time
	ContentType string
	Body        []byte
	// Headers and Query hold the first value of each; header names are lower case.
	Headers map[string]string
	Query   map[string]string

	once    sync.Once
	payload any
	tmap    map[string]any

	// For when expressions that read only some top-level keys of a JSON
	// object: its top level, and the keys decoded so far.
	topOnce sync.Once
	top     []member // nil: not a JSON object
	partial map[string]any
}

// member is a top-level key of a JSON object and its raw value (slices of
// the body, unless the key had escapes).
type member struct {
	key, raw []byte
}

// Payload returns the parsed body: a JSON document, GitHub's form-encoded
// payload= JSON, or the fields of any other form. It is nil when the body is
// none of those.
func (d *Data) Payload() any {
	d.once.Do(func() { d.payload = ParsePayload(d.ContentType, d.Body) })
	return d.payload
}

// templateData is the dot of every template. The payload is parsed only
// for a template that refers to it.
func (d *Data) templateData(payload bool) map[string]any {
	if d.tmap == nil {
		d.tmap = map[string]any{
			"id":       d.ID,
			"hook":     d.Hook,
			"event":    d.Event,
			"delivery": d.Delivery,
			"body":     string(d.Body),
			"headers":  d.Headers,
			"query":    d.Query,
			"received": d.Received,
		}
	}
	if _, ok := d.tmap["payload"]; payload && !ok {
		d.tmap["payload"], _ = forTemplates(d.Payload())
	}
	return d.tmap
}

// Number is a payload number with a fraction as templates see it: a
// float64 that prints as JSON writes numbers, 1234567.5 and 0.00001
// rather than fmt's 1.2345675e+06 and 1e-05. Templates compare it as a
// number (eq, lt) and format it with printf's verbs.
type Number float64

func (n Number) String() string {
	// encoding/json's own formatting; a parsed payload holds no NaN or Inf,
	// which it refuses.
	b, err := json.Marshal(float64(n))
	if err != nil {
		return strconv.FormatFloat(float64(n), 'g', -1, 64)
	}
	return string(b)
}

// Integer is a whole payload number as templates see it: an int64 that
// printf's float verbs (%e %E %f %F %g %G) format as the float64 of it, as
// they format a Number, so {{ printf "%.2f" .payload.amount }} prints
// 20.00 whether the sender wrote 20 or 20.0. Printed, and with any other
// verb, it is the int64: every digit, no exponent. It compares as an int
// (text/template's eq and lt: with whole constants).
type Integer int64

// Format implements fmt.Formatter.
func (n Integer) Format(f fmt.State, verb rune) {
	switch verb {
	case 'e', 'E', 'f', 'F', 'g', 'G':
		fmt.Fprintf(f, fmt.FormatString(f, verb), float64(n))
	default:
		fmt.Fprintf(f, fmt.FormatString(f, verb), int64(n))
	}
}

// Decimal is a payload number beyond what an int64 or a float64 holds
// (a wei amount, a 64-bit unsigned id), as the sender wrote it: printed,
// and in JSON, every digit; printf's number verbs format its value, as
// they format a Number and an Integer.
type Decimal json.Number

// Format implements fmt.Formatter. A number math/big would take long to
// read or write prints as the sender wrote it: one of more than
// maxDecimalLen characters (its time grows as the square of the digits:
// seconds for a million), or past maxDecimalExp (1e100000000 written out
// is a hundred million digits; past math/big's own exponents,
// 1e1000000000, it says Inf or 0).
func (n Decimal) Format(f fmt.State, verb rune) {
	switch verb {
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if len(n) <= maxDecimalLen {
			x, _, err := big.ParseFloat(string(n), 10, 256, big.ToNearestEven)
			if err == nil && !x.IsInf() && (x.Sign() != 0 || !nonzero(string(n))) {
				if e := x.MantExp(nil); e <= maxDecimalExp && e >= -maxDecimalExp {
					x.Format(f, verb)
					return
				}
			}
		}
		io.WriteString(f, string(n))
		return
	case 'd', 'x', 'X', 'o', 'O', 'b':
		if len(n) > maxDecimalLen {
			io.WriteString(f, string(n))
			return
		}
		if x, ok := new(big.Int).SetString(string(n), 10); ok {
			x.Format(f, verb)
			return
		}
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), string(n))
}

// nonzero reports whether the number s has a digit other than 0 before
// its exponent.
func nonzero(s string) bool {
	m, _, _ := strings.Cut(strings.ToLower(s), "e")
	return strings.ContainsAny(m, "123456789")
}

// maxDecimalExp bounds the binary exponent of a Decimal that printf's
// float verbs format as a number (about 10^±9864, far past any amount);
// beyond it, the Decimal prints as the sender wrote it.
const maxDecimalExp = 1 << 15

// maxDecimalLen bounds the length of a Decimal that printf's number verbs
// format as a number (ten thousand digits, as many as the largest
// exponent above gives); a longer one prints as the sender wrote it.
const maxDecimalLen = 10000

// MarshalJSON writes the number as the sender wrote it.
func (n Decimal) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// forTemplates returns v with each float64 in it a Number, each int64 an
// Integer and each json.Number a Decimal, and whether it changed anything. Containers holding neither
// are shared, not copied: when expressions read the same payload, with
// float64s and int64s.
func forTemplates(v any) (any, bool) {
	return mapLeaves(v, func(v any) (any, bool) {
		switch x := v.(type) {
		case float64:
			return Number(x), true
		case int64:
			return Integer(x), true
		case json.Number:
			return Decimal(x), true
		}
		return v, false
	})
}

// forExpr returns v as a when expression reads it, and whether that
// changed anything. expr compares and computes integers as int, taking
// int() of an int64: on a 32-bit platform a payload integer past ±2^31
// wrapped (4294967297 == 1 was true). There, such an integer is a float64,
// exact up to 2^53, and one past that a json.Number, as an integer past
// int64 is on any platform: ordering it is an error, not a wrong answer.
// On a 64-bit platform v is returned as it is. Containers holding none are
// shared, not copied.
func forExpr(v any) (any, bool) {
	if strconv.IntSize == 64 {
		return v, false
	}
	return mapLeaves(v, func(v any) (any, bool) {
		x, ok := v.(int64)
		switch {
		case !ok, x >= math.MinInt && x <= math.MaxInt:
			return v, false
		case x >= -1<<53 && x <= 1<<53:
			return float64(x), true
		}
		return json.Number(strconv.FormatInt(x, 10)), true
	})
}

// mapLeaves returns v with f applied to each value in it that is not a
// map or a slice, and whether f changed any. A map or slice in which f
// changed nothing is returned as it is, shared, not copied.
func mapLeaves(v any, f func(any) (any, bool)) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if n, changed := mapLeaves(e, f); changed {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range x {
			if n, changed := mapLeaves(e, f); changed {
				if out == nil {
					out = slices.Clone(x)
				}
				out[i] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return f(v)
}

// exprEnv is the environment of a when expression, with the payload as
// much of it as the expression reads (see payloadUse).
func (d *Data) exprEnv(use payloadUse) map[string]any {
	payload, _ := forExpr(d.payloadFor(use))
	return map[string]any{
		"event":    d.Event,
		"payload":  payload,
		"headers":  d.Headers,
		"query":    d.Query,
		"hook":     d.Hook,
		"delivery": d.Delivery,
	}
}

// payloadUse is what of the payload an expression reads: nothing, the
// values of some top-level keys, or all of it.
type payloadUse struct {
	whole bool
	keys  []string
}

// payloadFor returns the payload, or, for an expression that reads only
// some top-level keys of a JSON object, an object holding just those keys
// (decoded as the whole payload would have them), so that a when over
// payload.ref does not decode every commit of a push.
func (d *Data) payloadFor(use payloadUse) any {
	switch {
	case use.whole:
		return d.Payload()
	case len(use.keys) == 0:
		return nil
	}
	d.topOnce.Do(d.parseTop)
	if d.top == nil {
		return d.Payload()
	}
	for _, k := range use.keys {
		if _, done := d.partial[k]; done {
			continue
		}
		raw := lookup(d.top, k)
		if raw == nil {
			continue
		}
		v, ok := parseJSON(raw)
		if !ok {
			return d.Payload()
		}
		d.partial[k] = v
	}
	return d.partial
}

// parseTop splits a JSON object body into its top-level keys and raw
// values; the result is nil for any other body.
func (d *Data) parseTop() {
	mt, _, _ := mime.ParseMediaType(d.ContentType)
	if mt == "application/x-www-form-urlencoded" {
		return
	}
	trimmed := bytes.TrimLeft(d.Body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return
	}
	top, ok := splitObject(d.Body)
	if !ok {
		return
	}
	d.top = top
	d.partial = make(map[string]any, 4)
}

// lookup returns the raw value of key in top: the last one, as decoding
// into a map keeps it; nil if there is none.
func lookup(top []member, key string) []byte {
	for i := len(top) - 1; i >= 0; i-- {
		if string(top[i].key) == key {
			return top[i].raw
		}
	}
	return nil
}

// mentions reports whether s appears in what the sender sent: the body as
// it came, a header, the query, the event type or the delivery id; and,
// with payload set, a string or key of the payload as decoded, which the
// body may hold only escaped (\u003c in JSON, %3C in a form). The payload
// is searched (and parsed) only when nothing else holds s.
func (d *Data) mentions(s string, payload bool) bool {
	if bytes.Contains(d.Body, []byte(s)) || strings.Contains(d.Event, s) || strings.Contains(d.Delivery, s) || strings.Contains(d.ContentType, s) {
		return true
	}
	for _, m := range []map[string]string{d.Headers, d.Query} {
		for k, v := range m {
			if strings.Contains(k, s) || strings.Contains(v, s) {
				return true
			}
		}
	}
	return payload && holds(d.Payload(), s)
}

// holds reports whether a string or a key in v, a decoded payload,
// contains s.
func holds(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, s)
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, s) || holds(e, s) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holds(e, s) {
				return true
			}
		}
	}
	return false
}

// ParsePayload parses a request body by its content type. JSON is detected
// by content type or by its first non-space byte, so a sender that labels
// JSON as text/plain still gets a payload.
func ParsePayload(contentType string, body []byte) any {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil
		}
		if p := vals.Get("payload"); p != "" && len(vals) == 1 {
			if v, ok := parseJSON([]byte(p)); ok {
				return v
			}
		}
		m := make(map[string]any, len(vals))
		for k, v := range vals {
			if len(v) > 0 {
				m[k] = v[0]
			}
		}
		return m
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		if v, ok := parseJSON(body); ok {
			return v
		}
	}
	return nil
}

func parseJSON(b []byte) (any, bool) {
	// A scalar, the value a when reads most often (payload.ref,
	// payload.action), does not need a Decoder, whose buffer alone is
	// 2 KB; numbers still keep every digit (json.Number, then normalize).
	if t := bytes.Trim(b, " \t\r\n"); len(t) > 0 && t[0] != '{' && t[0] != '[' {
		var v any
		var err error
		if t[0] == '-' || '0' <= t[0] && t[0] <= '9' {
			var n json.Number
			err = json.Unmarshal(t, &n)
			v = n
		} else {
			err = json.Unmarshal(t, &v)
		}
		if err != nil {
			return nil, false
		}
		return normalize(v), true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	// One value and nothing after it but space: `{"a":1}}` is not JSON.
	if len(bytes.Trim(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, false
	}
	return normalize(v), true
}

// normalize turns json.Number into int64 where it fits exactly and float64
// otherwise, so that expressions compare numbers as numbers and templates
// print integers without an exponent. A number too large for either stays
// a json.Number, which prints as it was sent.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			return x
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) {
			return f
		}
		return x
	default:
		return v
	}
}

// HeaderMap flattens headers to their first value under lower-case names.
func HeaderMap(h map[string][]string) map[string]string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			m[strings.ToLower(k)] = v[0]
		}
	}
	return m
}

// QueryMap flattens a query to the first value of each parameter.
func QueryMap(q url.Values) map[string]string {
	m := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}
