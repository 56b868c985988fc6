package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder reads typed values out of the map BurntSushi/toml produced,
// collecting every problem with its line.
type decoder struct {
	file string
	pos  *positions
	errs Errors
}

func (d *decoder) errf(path string, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.pos.line(path), Msg: fmt.Sprintf(format, args...)})
}

// table is one TOML table being read; it remembers which keys were read so
// that the rest can be reported as unknown.
type table struct {
	d    *decoder
	path string // dotted, with array indices: hook.0.action.1
	name string // for messages: [[hook]], [server], ...
	m    map[string]any
	used map[string]bool
}

func (d *decoder) table(path, name string, m map[string]any) *table {
	if m == nil {
		m = map[string]any{}
	}
	return &table{d: d, path: path, name: name, m: m, used: map[string]bool{}}
}

func (t *table) key(k string) string { return join(t.path, k) }

func (t *table) has(k string) bool { _, ok := t.m[k]; return ok }

func (t *table) get(k string) (any, bool) {
	t.used[k] = true
	v, ok := t.m[k]
	return v, ok
}

func (t *table) typeErr(k, want string, v any) {
	t.d.errf(t.key(k), "%s must be %s, not %s", k, want, tomlType(v))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func (t *table) str(k, def string) string {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(k, "a string", v)
		return def
	}
	return s
}

func (t *table) strs(k string) []string {
	v, ok := t.get(k)
	if !ok {
		return nil
	}
	out, err := stringList(v, func(i int, e any) string {
		return fmt.Sprintf("%s[%d] must be a string, not %s", k, i, tomlType(e))
	})
	if err != nil {
		if _, isList := v.([]any); isList {
			t.d.errf(t.key(k), "%s", err.Error())
		} else {
			t.typeErr(k, "an array of strings", v)
		}
	}
	return out
}

// stringList reads a list of strings as a config file may write it: an
// array of strings, or one string alone. An item that is not a string is
// left out and reported (the first one) as bad says; a value that is
// neither an array nor a string is an error too.
func stringList(v any, bad func(i int, item any) string) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		var err error
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				if err == nil {
					err = errors.New(bad(i, e))
				}
				continue
			}
			out = append(out, s)
		}
		return out, err
	}
	return nil, fmt.Errorf("must be an array of strings, not %s", tomlType(v))
}

func (t *table) int(k string, def, min, max int) int {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	n, ok := v.(int64)
	if !ok {
		t.typeErr(k, "an integer", v)
		return def
	}
	if n < int64(min) || n > int64(max) {
		t.d.errf(t.key(k), "%s must be from %d to %d, not %d", k, min, max, n)
		return def
	}
	return int(n)
}

func (t *table) float(k string, def float64) float64 {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			t.d.errf(t.key(k), "%s must be a finite number", k)
			return def
		}
		return n
	default:
		t.typeErr(k, "a number", v)
		return def
	}
}

func (t *table) bool(k string, def bool) bool {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		t.typeErr(k, "true or false", v)
		return def
	}
	return b
}

func (t *table) duration(k string, def time.Duration) time.Duration {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(k, `a duration such as "30s"`, v)
		return def
	}
	dur, err := ParseDuration(s)
	if err != nil {
		t.d.errf(t.key(k), "%s: %v", k, err)
		return def
	}
	return dur
}

func (t *table) size(k string, def int64) int64 {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case string:
		var err error
		if n, err = ParseSize(x); err != nil {
			t.d.errf(t.key(k), "%s: %v", k, err)
			return def
		}
	default:
		t.typeErr(k, `a size such as "1MiB"`, v)
		return def
	}
	if n < 0 {
		t.d.errf(t.key(k), "%s must not be negative", k)
		return def
	}
	return n
}

func (t *table) prefixes(k string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range t.strs(k) {
		p, err := ParsePrefix(s)
		if err != nil {
			t.d.errf(t.key(k), "%s: %v", k, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// sub returns the table under k (nil if absent).
func (t *table) sub(k, name string) *table {
	v, ok := t.get(k)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.typeErr(k, "a table", v)
		return nil
	}
	return t.d.table(t.key(k), name, m)
}

// tables returns the array of tables under k.
func (t *table) tables(k, name string) []*table {
	v, ok := t.get(k)
	if !ok {
		return nil
	}
	var ms []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		ms = x
	case []any:
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				t.d.errf(t.key(k), "%s[%d] must be a table, not %s", k, i, tomlType(e))
				continue
			}
			ms = append(ms, m)
		}
	case map[string]any:
		name := tablePath(t.key(k))
		t.d.errf(t.key(k), "%s must be written [[%s]] (an array of tables), not [%s]", k, name, name)
		return nil
	default:
		t.typeErr(k, "an array of tables", v)
		return nil
	}
	out := make([]*table, len(ms))
	for i, m := range ms {
		out[i] = t.d.table(t.key(k)+"."+strconv.Itoa(i), name, m)
	}
	return out
}

// stringMap returns a table of strings under k, in key order.
func (t *table) stringMap(k string) [][2]string {
	v, ok := t.get(k)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.typeErr(k, "a table of strings", v)
		return nil
	}
	keys := make([]string, 0, len(m))
	for name := range m {
		keys = append(keys, name)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(m))
	for _, name := range keys {
		s, ok := m[name].(string)
		if !ok {
			t.d.errf(t.key(k)+"."+name, "%s.%s must be a string, not %s", k, name, tomlType(m[name]))
			continue
		}
		out = append(out, [2]string{name, s})
	}
	return out
}

// done reports the keys that were never read.
func (t *table) done() {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		if !t.used[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return t.d.pos.line(t.key(keys[i])) < t.d.pos.line(t.key(keys[j])) })
	for _, k := range keys {
		t.d.errf(t.key(k), "unknown key %q in %s", k, t.name)
	}
}

// tablePath is a key's path as the file writes it: without the indexes of
// the arrays of tables it is in (hook.0.action is [[hook.action]]).
func tablePath(key string) string {
	parts := strings.Split(key, ".")
	out := parts[:0]
	for _, p := range parts {
		if strings.Trim(p, "0123456789") != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// ParseDuration parses a Go duration ("90s", "1h30m") or a number of days
// ("30d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || !(n >= 0 && n <= 100*365) { // NaN too
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use units such as 30s, 10m, 24h or 30d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseSize parses a size: a number of bytes, or a number with a unit
// (KiB, MiB, GiB, TiB; KB, MB, GB, TB; K, M, G as binary units).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("bad size %q (use a number of bytes or units such as 512KiB, 1MiB)", s)
	}
	v := n * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// ParsePrefix parses a CIDR or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: client addresses are
			// compared unmapped.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
