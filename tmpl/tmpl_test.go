package tmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func push() *Data {
	return &Data{
		ID:          "01ABC",
		Hook:        "site",
		Event:       "push",
		Delivery:    "d-1",
		Received:    time.Unix(1700000000, 0).UTC(),
		ContentType: "application/json",
		Body:        []byte(`{"ref":"refs/heads/main","after":"abc123","size":12345678901234,"ratio":0.5,"head_commit":null,"repository":{"full_name":"o/r"},"commits":[{"id":"1"},{"id":"2"}]}`),
		Headers:     map[string]string{"x-github-event": "push"},
		Query:       map[string]string{"q": "1"},
	}
}

func TestTemplate_Execute(t *testing.T) {
	tests := []struct {
		name, text, want, wantErr string
	}{
		{name: "plain", text: "/srv/deploy.sh", want: "/srv/deploy.sh"},
		{name: "field", text: "{{ .payload.after }}", want: "abc123"},
		{name: "nested", text: "{{ .payload.repository.full_name }}/{{ .payload.ref }}", want: "o/r/refs/heads/main"},
		{name: "big int prints exactly", text: "{{ .payload.size }}", want: "12345678901234"},
		{name: "float", text: "{{ .payload.ratio }}", want: "0.5"},
		{name: "header", text: `{{ index .headers "x-github-event" }}`, want: "push"},
		{name: "meta", text: "{{ .id }} {{ .hook }} {{ .event }} {{ .delivery }} {{ .query.q }}", want: "01ABC site push d-1 1"},
		{name: "funcs", text: `{{ trimPrefix "refs/heads/" .payload.ref | upper }}`, want: "MAIN"},
		{name: "json", text: `{{ json .payload.repository }}`, want: `{"full_name":"o/r"}`},
		{name: "index list", text: `{{ (index .payload.commits 1).id }}`, want: "2"},
		{name: "missing key", text: "{{ .payload.nope }}", wantErr: `no key "nope"`},
		{name: "missing nested", text: "{{ .payload.repository.owner }}", wantErr: `no key "owner"`},
		{name: "null value", text: "x{{ .payload.head_commit }}", wantErr: "null"},
		{name: "under null", text: "{{ .payload.head_commit.id }}", wantErr: `"id"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse(tc.name, tc.text)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.text, err)
			}
			got, err := tpl.Execute(push())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Execute(%q) = %q, %v; want error containing %q", tc.text, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Execute(%q) = %q, %v; want %q", tc.text, got, err, tc.want)
			}
		})
	}
}

// Numbers with a fraction print as the sender wrote them (as JSON writes
// them), not in fmt's exponent form; they still compare as numbers, in
// templates and in a when over the same event.
func TestTemplate_Numbers(t *testing.T) {
	body := `{"a":1234567.5,"b":10000000.25,"c":0.00001,"d":[2.5,{"e":1e300}],"f":0.00000015,"g":1e-300,"h":1e21,"n":42,"big":123456789012345678901234567890}`
	d := &Data{ContentType: "application/json", Body: []byte(body)}
	for text, want := range map[string]string{
		`{{ .payload.a }}`:                          "1234567.5",
		`{{ .payload.b }}`:                          "10000000.25",
		`{{ .payload.c }}`:                          "0.00001",
		`{{ index .payload.d 0 }}`:                  "2.5",
		`{{ (index .payload.d 1).e }}`:              "1e+300",
		`{{ .payload.f }}`:                          "1.5e-7",
		`{{ .payload.g }}`:                          "1e-300",
		`{{ .payload.h }}`:                          "1e+21",
		`{{ .payload.n }}`:                          "42",
		`{{ .payload.big }}`:                        "123456789012345678901234567890",
		`{{ printf "%.2f" .payload.a }}`:            "1234567.50",
		`{{ if gt .payload.a 1000.0 }}big{{ end }}`: "big",
		`{{ if eq .payload.c 0.00001 }}eq{{ end }}`: "eq",
		`{{ json .payload.d }}`:                     `[2.5,{"e":1e+300}]`,
	} {
		got, err := MustParse("t", text).Execute(d)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", text, got, err, want)
		}
	}
	when, err := Compile(`payload.a > 1000 && payload.c < 0.001`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := when.Eval(d); err != nil || !ok {
		t.Errorf("when over the same event = %v, %v; want true", ok, err)
	}
}

// TestTemplate_WholeNumbers: a number the sender wrote whole (20, not
// 20.0) formats with printf's float verbs as one with a fraction does; it
// still prints, indexes and compares as the integer it is.
func TestTemplate_WholeNumbers(t *testing.T) {
	tests := []struct{ text, body, want string }{
		{`{{ printf "%.2f" .payload.amount }}`, `{"amount":19.5}`, "19.50"},
		{`{{ printf "%.2f" .payload.amount }}`, `{"amount":20}`, "20.00"},
		{`{{ printf "%e|%E|%g|%G|%F|%8.1f" .payload.amount .payload.amount .payload.amount .payload.amount .payload.amount .payload.amount }}`, `{"amount":20}`, "2.000000e+01|2.000000E+01|20|20|20.000000|    20.0"},
		{`{{ printf "%d|%v|%5d|%x|%s" .payload.n .payload.n .payload.n .payload.n .payload.n }}`, `{"n":42}`, "42|42|   42|2a|%!s(int64=42)"},
		{`{{ .payload.n }} {{ print .payload.n }} {{ json .payload }} {{ .payload }}`, `{"n":-7}`, `-7 -7 {"n":-7} map[n:-7]`},
		{`{{ printf "%.0f" .payload.n }}`, `{"n":9007199254740993}`, "9007199254740992"},
		{`{{ .payload.n }}`, `{"n":9007199254740993}`, "9007199254740993"},
		{`{{ printf "%.2f" .payload.amount }}`, `{"amount":10000000000000000000}`, "10000000000000000000.00"},
		{`{{ printf "%.2f" .payload.amount }}`, `{"amount":-10000000000000000000}`, "-10000000000000000000.00"},
		{`{{ printf "%d|%x|%5d" .payload.n .payload.n .payload.n }}`, `{"n":18446744073709551615}`, "18446744073709551615|ffffffffffffffff|18446744073709551615"},
		{`{{ .payload.n }} {{ print .payload.n }} {{ json .payload }} {{ printf "%s|%v" .payload.n .payload.n }}`, `{"n":18446744073709551615}`, `18446744073709551615 18446744073709551615 {"n":18446744073709551615} 18446744073709551615|18446744073709551615`},
		{`{{ index .payload.list .payload.i }}`, `{"list":["a","b"],"i":1}`, "b"},
		{`{{ if eq .payload.n 42 }}eq{{ end }}{{ if lt .payload.n 50 }} lt{{ end }}{{ if gt .payload.n -1 }} gt{{ end }}`, `{"n":42}`, "eq lt gt"},
		{`{{ if eq .payload.s "x" "y" }}eq{{ end }}{{ if lt .payload.s "y" }} lt{{ end }}{{ if eq .payload.z nil }} nil{{ end }}`, `{"s":"y","z":null}`, "eq nil"},
	}
	for _, tc := range tests {
		d := &Data{ContentType: "application/json", Body: []byte(tc.body)}
		got, err := MustParse("t", tc.text).Execute(d)
		if err != nil || got != tc.want {
			t.Errorf("%s over %s = %q, %v; want %q", tc.text, tc.body, got, err, tc.want)
		}
	}
	// Comparisons text/template refuses stay refused: of a string with a
	// number, and of a whole number with a fraction (README).
	for _, text := range []string{`{{ lt .payload.s 1 }}`, `{{ eq .payload.n "42" }}`, `{{ lt .payload.b true }}`, `{{ eq .payload.n }}`, `{{ lt .payload.n 10.5 }}`} {
		d := &Data{ContentType: "application/json", Body: []byte(`{"s":"x","n":42,"b":false}`)}
		if got, err := MustParse("t", text).Execute(d); err == nil {
			t.Errorf("%s = %q; want an error", text, got)
		}
	}
}

func TestParse_Error(t *testing.T) {
	for _, text := range []string{"{{ .payload.x ", "{{ nosuchfunc .x }}", "{{ end }}"} {
		if _, err := Parse("t", text); err == nil {
			t.Errorf("Parse(%q) = nil error; want one", text)
		}
	}
}

// TestParse_Mistakes: a template that names a field the data does not
// have, where dot is the data, or calls one of our functions with the
// wrong number of arguments, would fail every run: Parse refuses it, at
// its line. Fields under .payload, and under a dot that with, range or a
// defined template rebinds, are the payload's business and are left to
// the run.
func TestParse_Mistakes(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{{ .paylod.after }}`, `template: 1: no field .paylod: the data has .id, .hook, .event, .delivery, .payload, .body, .headers, .query and .received`},
		{`{{ $.evnt }}`, `template: 1: no field .evnt`},
		{`{{ trimPrefix .payload.ref }}`, `template: 1: wrong number of args for trimPrefix: want 2 got 1`},
		{`{{ .payload.ref | trimPrefix "a" "b" }}`, `template: 1: wrong number of args for trimPrefix: want 2 got 3`},
		{`{{ printf "%s" (upper) }}`, `template: 1: wrong number of args for upper: want 1 got 0`},
		{`{{ printf "%s" lower }}`, `template: 1: wrong number of args for lower: want 1 got 0`},
		{`{{ env }}`, `template: 1: wrong number of args for env: want 1 got 0`},
		{`{{ json .payload .hook }}`, `template: 1: wrong number of args for json: want 1 got 2`},
	} {
		_, err := Parse("run[1]", tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.text, err, tc.want)
		}
	}
	for _, text := range []string{
		`{{ .id }}{{ .hook }}{{ .event }}{{ .delivery }}{{ .payload.x }}{{ .body }}{{ .headers.x }}{{ .query.x }}{{ .received.Unix }}`,
		`{{ with .payload }}{{ .anything }}{{ end }}`,
		`{{ range .payload.commits }}{{ .id }}{{ .nope }}{{ end }}`,
		`{{ with $d := .payload }}{{ $d.x }}{{ end }}{{ $p := .payload }}{{ $p.y }}`,
		`{{ define "x" }}{{ .whatever }}{{ $.other }}{{ end }}{{ template "x" .payload }}`,
		`{{ .payload.ref | trimPrefix "refs/heads/" | upper | replace "A" "B" }}`,
		`{{ "x" | printf "%s" | lower | trim }}{{ trimSuffix "/" (lower .payload.ref) }}`,
		`{{ if eq .event "push" "tag" }}{{ end }}{{ if and (lt .payload.n 1) (ge 2 .payload.n) }}{{ end }}`,
		`{{ json . }}{{ json $ }}{{ (.).payload.after }}`,
	} {
		if _, err := Parse("t", text); err != nil {
			t.Errorf("Parse(%q) = %v; want no error", text, err)
		}
	}
	// In a part some runs skip, the same mistakes are warnings: the
	// template renders for the events that do not take it, as it did
	// before Parse looked.
	for _, tc := range []struct{ text, want string }{
		{"a\n{{ if .payload }}{{ .Payload.ref }}{{ end }}", `template: 2: no field .Payload`},
		{`{{ with .payload }}{{ $.hedaers }}{{ end }}`, `template: 1: no field .hedaers`},
		{`{{ range .payload.commits }}{{ else }}{{ .nope }}{{ end }}`, `template: 1: no field .nope`},
		{"{{ define \"x\" }}\n{{ replace \"a\" .ref }}{{ end }}{{ template \"x\" .payload }}", `template: 2: wrong number of args for replace: want 3 got 2`},
		{`{{ or .payload.after .sha }}`, `template: 1: no field .sha`},
		{`{{ if .payload.ref }}{{ .payload.ref }}{{ else }}{{ .refname }}{{ end }}`, `template: 1: no field .refname`},
		{`{{ if and (eq .event "release") (trimPrefix .payload.ref) }}x{{ end }}`, `template: 1: wrong number of args for trimPrefix`},
		{`{{ or .payload.after lower }}`, `template: 1: wrong number of args for lower`},
	} {
		tp, err := Parse("run[1]", tc.text)
		if err != nil {
			t.Errorf("Parse(%q) = %v; want it loaded, with a warning", tc.text, err)
			continue
		}
		if w := strings.Join(tp.Warnings(), "\n"); !strings.Contains(w, tc.want) {
			t.Errorf("Parse(%q) warnings %q; want one containing %q", tc.text, w, tc.want)
		}
	}
	// The fields Parse knows are the ones a template sees.
	got := slices.Sorted(maps.Keys(push().templateData(true)))
	if want := slices.Sorted(slices.Values(dataFields)); !slices.Equal(got, want) {
		t.Errorf("templates see %v; Parse knows %v", got, want)
	}
}

func TestExpr(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
		explain    string
	}{
		{name: "match", text: `event == "push" && payload.ref == "refs/heads/main"`, want: true},
		{name: "no match", text: `payload.ref == "refs/heads/dev"`, want: false, explain: `payload.ref is "refs/heads/main"`},
		{name: "header", text: `headers["x-github-event"] == "pull"`, want: false, explain: `headers["x-github-event"] is "push"`},
		{name: "number", text: `payload.size > 10`, want: true},
		{name: "missing is nil", text: `payload.nope == "x"`, want: false, explain: "payload.nope is missing"},
		{name: "builtins", text: `len(payload.commits) == 3`, want: false, explain: "payload.commits is a list of 2"},
		{name: "hook", text: `hook == "other"`, want: false, explain: `hook is "site"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(tc.text)
			if err != nil {
				t.Fatalf("Compile(%q) = %v", tc.text, err)
			}
			d := push()
			got, err := e.Eval(d)
			if err != nil || got != tc.want {
				t.Fatalf("Eval(%q) = %v, %v; want %v", tc.text, got, err, tc.want)
			}
			if tc.explain != "" {
				if ex := e.Explain(d); !strings.Contains(ex, tc.explain) {
					t.Errorf("Explain(%q) = %q; want it to contain %q", tc.text, ex, tc.explain)
				}
			}
		})
	}
}

// TestExpr_ExplainValues: an explanation shows a number as a template
// prints it (as JSON writes it), and cuts a long value at a character,
// never inside one (%q would show the half as \xc3).
func TestExpr_ExplainValues(t *testing.T) {
	long := strings.Repeat("a", 76) + "é and more words after it"
	d := &Data{ContentType: "application/json",
		Body:    []byte(`{"title":"` + long + `","a":1234567.5,"c":0.00001,"h":1e21,"n":42,"big":123456789012345678901234567890,"ok":true,"o":{"x":1,"y":2}}`),
		Headers: map[string]string{"x-long": strings.Repeat("a", 65) + "é and more"}, Query: map[string]string{}}
	for _, tc := range []struct{ text, want string }{
		{`payload.title == "x"`, `when is false: payload.title is "` + strings.Repeat("a", 76) + `..."`},
		{`payload.a > 2e6`, "when is false: payload.a is 1234567.5"},
		{`payload.c > 1`, "when is false: payload.c is 0.00001"},
		{`payload.h < 1`, "when is false: payload.h is 1e+21"},
		{`payload.n == 1`, "when is false: payload.n is 42"},
		{`payload.big == 1`, "when is false: payload.big is 123456789012345678901234567890"},
		{`payload.ok == false || len(payload.o) == 0`, "when is false: payload.ok is true, payload.o is an object with 2 keys"},
		{`payload.ok == payload.missing`, "when is false: payload.ok is true, payload.missing is missing"},
	} {
		e, err := Compile(tc.text)
		if err != nil {
			t.Fatalf("Compile(%s): %v", tc.text, err)
		}
		if got := e.Explain(d); got != tc.want {
			t.Errorf("Explain(%s) = %q; want %q", tc.text, got, tc.want)
		}
	}
	// A value shown with fmt, a map of headers here ("map[x-long:aaa…"),
	// is cut at a character too.
	e, err := Compile(`len(headers) == 0`)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Explain(d); !utf8.ValidString(got) || !strings.HasSuffix(got, "aaa...") {
		t.Errorf("Explain(len(headers) == 0) = %q; want it cut before the é", got)
	}
}

func TestCompile_Error(t *testing.T) {
	for _, text := range []string{`event ==`, `evnt == "push"`, `"push"`, `1 + 2`} {
		if _, err := Compile(text); err == nil {
			t.Errorf("Compile(%q) = nil error; want one", text)
		}
	}
}

func TestParsePayload(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		check             func(any) bool
	}{
		{"json", "application/json", `{"a":1}`, func(v any) bool { return v.(map[string]any)["a"] == int64(1) }},
		{"json as text", "text/plain", ` {"a":"b"}`, func(v any) bool { return v.(map[string]any)["a"] == "b" }},
		{"github form", "application/x-www-form-urlencoded", `payload=%7B%22ref%22%3A%22x%22%7D`, func(v any) bool { return v.(map[string]any)["ref"] == "x" }},
		{"form", "application/x-www-form-urlencoded", `a=1&b=2&b=3`, func(v any) bool { m := v.(map[string]any); return m["a"] == "1" && m["b"] == "2" }},
		{"not json", "text/plain", `hello`, func(v any) bool { return v == nil }},
		{"broken json", "application/json", `{"a":`, func(v any) bool { return v == nil }},
		{"trailing garbage", "application/json", `{"a":1} x`, func(v any) bool { return v == nil }},
		{"huge number", "application/json", `{"n":1e999}`, func(v any) bool { return v.(map[string]any)["n"] != nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParsePayload(tc.ctype, []byte(tc.body))
			if !tc.check(got) {
				t.Errorf("ParsePayload(%q, %q) = %#v", tc.ctype, tc.body, got)
			}
		})
	}
}

// TestExpr_PayloadUse: an expression reads as much of the payload as it
// needs, and its result is the same as over the whole payload.
func TestExpr_PayloadUse(t *testing.T) {
	uses := []struct {
		text  string
		whole bool
		keys  []string
	}{
		{`event == "push"`, false, nil},
		{`payload.ref == "refs/heads/main"`, false, []string{"ref"}},
		{`payload["ref"] == "x" || payload.repository.full_name == "o/r"`, false, []string{"ref", "repository"}},
		{`len(payload.commits) > 1 && all(payload.commits, {.id != ""})`, false, []string{"commits"}},
		{`payload != nil`, true, nil},
		{`payload[event] == 1`, true, nil},
		{`"ref" in payload`, true, nil},
	}
	for _, u := range uses {
		e, err := Compile(u.text)
		if err != nil {
			t.Fatalf("Compile(%q): %v", u.text, err)
		}
		if e.use.whole != u.whole || fmt.Sprint(e.use.keys) != fmt.Sprint(u.keys) {
			t.Errorf("Compile(%q) reads %+v; want whole=%v keys=%v", u.text, e.use, u.whole, u.keys)
		}
	}
	bodies := []struct{ ctype, body string }{
		{"application/json", `{"ref":"refs/heads/main","after":"a","repository":{"full_name":"o/r"},"commits":[{"id":"1"},{"id":"2"}]}`},
		{"application/json", `{"ref":"refs/heads/dev","ref":"refs/heads/main","n":12345678901234567890}`},
		{"application/json", `[1,2,3]`},
		{"application/json", `{"ref": broken`},
		{"application/x-www-form-urlencoded", `payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D`},
		{"text/plain", `hello`},
		{"application/json", `{"ref":null,"commits":[]}`},
	}
	exprs := []string{
		`payload.ref == "refs/heads/main"`,
		`payload.repository.full_name == "o/r"`,
		`payload.nope == nil`,
		`len(payload.commits) == 2`,
		`payload.n > 1`,
	}
	for _, b := range bodies {
		for _, text := range exprs {
			e, _ := Compile(text)
			whole := *e
			whole.use = payloadUse{whole: true}
			d1 := &Data{ContentType: b.ctype, Body: []byte(b.body)}
			d2 := &Data{ContentType: b.ctype, Body: []byte(b.body)}
			got, err1 := e.Eval(d1)
			want, err2 := whole.Eval(d2)
			if got != want || (err1 == nil) != (err2 == nil) {
				t.Errorf("%s over %s: partial = %v, %v; whole = %v, %v", text, b.body, got, err1, want, err2)
			}
			if !got && err1 == nil {
				if a, b := e.Explain(d1), whole.Explain(d2); a != b {
					t.Errorf("Explain(%s) partial %q; whole %q", text, a, b)
				}
			}
		}
	}
}

// TestTemplate_PayloadOnlyWhenRead: a template that does not mention the
// payload does not parse it.
func TestTemplate_PayloadOnlyWhenRead(t *testing.T) {
	d := &Data{Hook: "h", ContentType: "application/json", Body: []byte(`{"a":1}`)}
	tp := MustParse("t", "{{ .hook }}")
	if got, err := tp.Execute(d); err != nil || got != "h" {
		t.Fatalf("Execute = %q, %v", got, err)
	}
	if _, parsed := d.tmap["payload"]; parsed {
		t.Errorf("the payload was parsed for a template that does not read it")
	}
	if got, err := MustParse("t", "{{ .payload.a }}").Execute(d); err != nil || got != "1" {
		t.Errorf("Execute(.payload.a) = %q, %v", got, err)
	}
}

// TestTemplate_PayloadWithoutNamingIt: a template that reaches the payload
// through the whole data (., $) sees it, though its text never says
// "payload"; one that names it only in a string or a comment does not
// parse it.
func TestTemplate_PayloadWithoutNamingIt(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{{ range $k, $v := . }}{{ if eq $k "hook" "body" }}{{ else }}{{ $k }};{{ end }}{{ end }}`, "delivery;event;headers;id;payload;query;received;"},
		{`{{ with index . (printf "%s%s" "pay" "load") }}{{ .ref }}{{ end }}`, "refs/heads/main"},
		{`{{ $d := . }}{{ with .headers }}{{ $d.payload.after }}{{ end }}`, "abc123"},
		{`{{ with $ }}{{ .payload.after }}{{ end }}`, "abc123"},
		{`{{ $.payload.after }}`, "abc123"},
		{`{{ define "x" }}{{ .payload.after }}{{ end }}{{ template "x" . }}`, "abc123"},
		{`{{ if true }}{{ else }}{{ end }}{{ range .query }}{{ end }}{{ (.).payload.after }}`, "abc123"},
	} {
		d := push()
		got, err := MustParse("t", tc.text).Execute(d)
		if err != nil || got != tc.want {
			t.Errorf("Execute(%s) = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
	for _, text := range []string{`{{ "payload" }}{{ .hook }}`, `{{/* payload */}}{{ .headers }}`, `{{ with .query }}{{ .q }}{{ end }}`} {
		d := push()
		if _, err := MustParse("t", text).Execute(d); err != nil {
			t.Fatalf("Execute(%s): %v", text, err)
		}
		if _, parsed := d.tmap["payload"]; parsed {
			t.Errorf("Execute(%s) parsed the payload; it cannot reach it", text)
		}
	}
}

func TestTemplate_UsesField(t *testing.T) {
	tests := []struct {
		src  string
		uses bool
	}{
		{"plain", false},
		{"{{ .id }}", true},
		{"k-{{ .payload.ref }}-{{ .id }}", true},
		{"{{ $.id }}", true},
		{"{{ json . }}", true},
		{"{{ index . \"id\" }}", true},
		{"{{ if .id }}x{{ end }}", true},
		{"{{ with .payload }}{{ $.id }}{{ end }}", true},
		{"{{ .payload.id }}", false},
		{"{{ .payload.repository.id }}", false},
		{"{{ with .payload.repository }}{{ .id }}{{ end }}", false},
		{"{{ range .payload.commits }}{{ .id }}{{ end }}", false},
		{"{{ with .payload.x }}{{ .y }}{{ else }}{{ .id }}{{ end }}", true},
		{"{{ .hook }}-{{ .delivery }}", false},
		{"{{ json $ }}", true}, // $ alone is all of the data
	}
	for _, tc := range tests {
		if got := MustParse("k", tc.src).UsesField("id"); got != tc.uses {
			t.Errorf("UsesField(id) of %q = %v; want %v", tc.src, got, tc.uses)
		}
	}
}

// TestTemplate_NoValueText: a payload whose value is the text "<no value>"
// renders it; a null still fails the render, in an event without that text.
func TestTemplate_NoValueText(t *testing.T) {
	tpl := MustParse("t", "{{ .payload.a }}")
	d := &Data{ContentType: "application/json", Body: []byte(`{"a":"<no value>"}`), Headers: map[string]string{}, Query: map[string]string{}}
	if out, err := tpl.Execute(d); err != nil || out != "<no value>" {
		t.Errorf("Execute over a payload saying <no value> = %q, %v; want it as it is", out, err)
	}
	d = &Data{ContentType: "application/json", Body: []byte(`{"a":null}`), Headers: map[string]string{}, Query: map[string]string{}}
	var re *RenderError
	if out, err := tpl.Execute(d); !errors.As(err, &re) {
		t.Errorf("Execute over a null = %q, %v; want a RenderError", out, err)
	}
}

// TestTemplate_NoValueTextEncoded: the text "<no value>" in the payload
// renders as it is also when the body encodes it, so that the body does
// not hold those bytes: Go's encoding/json (Gitea, Forgejo) writes < and >
// as \u003c and \u003e, and a form (GitHub's payload=, Twilio) percent-
// encodes them; in a key too. A null still fails in such an event when
// nothing in it says "<no value>", and .body is checked as it is.
func TestTemplate_NoValueTextEncoded(t *testing.T) {
	const msg = "tmpl: fix <no value> in output"
	tests := []struct {
		name, ctype, body, text, want, wantErr string
	}{
		{name: "json, html-escaped", ctype: "application/json", body: `{"head_commit":{"message":"tmpl: fix \u003cno value\u003e in output"}}`,
			text: "{{ .payload.head_commit.message }}", want: msg},
		{name: "json, other escapes", ctype: "application/json", body: `{"a":["x","\u003cno \u0076alue>"]}`,
			text: "{{ index .payload.a 1 }}", want: "<no value>"},
		{name: "github form", ctype: "application/x-www-form-urlencoded", body: "payload=" + url.QueryEscape(`{"head_commit":{"message":"`+msg+`"}}`),
			text: "{{ .payload.head_commit.message }}", want: msg},
		{name: "form field", ctype: "application/x-www-form-urlencoded", body: "Body=" + url.QueryEscape(msg) + "&From=x",
			text: "{{ .payload.Body }}", want: msg},
		{name: "in a key", ctype: "application/json", body: `{"\u003cno value\u003e":1}`,
			text: "{{ range $k, $v := .payload }}{{ $k }}{{ end }}", want: "<no value>"},
		{name: "null, escaped text elsewhere", ctype: "application/json", body: `{"a":null,"b":"\u003cno\u0020value"}`,
			text: "{{ .payload.a }}", wantErr: "null or missing"},
		{name: "null, form", ctype: "application/x-www-form-urlencoded", body: "payload=" + url.QueryEscape(`{"a":null,"b":"<no","c":"value>"}`),
			text: "{{ .payload.a }}", wantErr: "null or missing"},
		{name: "body as sent", ctype: "application/json", body: `{"m":"\u003cno value\u003e"}`,
			text: "{{ .body }}", want: `{"m":"\u003cno value\u003e"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Data{ContentType: tc.ctype, Body: []byte(tc.body), Headers: map[string]string{}, Query: map[string]string{}}
			got, err := MustParse("t", tc.text).Execute(d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Execute(%s) over %s = %q, %v; want error containing %q", tc.text, tc.body, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Execute(%s) over %s = %q, %v; want %q", tc.text, tc.body, got, err, tc.want)
			}
		})
	}
}

// TestExpr_EnvAndToJSON: a when that reads the payload through $env sees
// it as one that names it does; toJSON over a payload nested thousands
// deep costs about its size, not the square of its depth.
func TestExpr_EnvAndToJSON(t *testing.T) {
	for _, src := range []string{`$env.payload.ref == "x"`, `$env["payload"].ref == "x"`, `payload.ref == "x"`} {
		e, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		d := &Data{ContentType: "application/json", Body: []byte(`{"ref":"x","other":1}`), Headers: map[string]string{}, Query: map[string]string{}}
		if ok, err := e.Eval(d); !ok || err != nil {
			t.Errorf("%s over {\"ref\":\"x\"} = %v, %v; want true", src, ok, err)
		}
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	body := `{"ref":[` + deep + `,` + deep + `]}`
	e, err := Compile(`toJSON(payload.ref) contains "x"`)
	if err != nil {
		t.Fatal(err)
	}
	// Over an ordinary payload, toJSON writes what expr's own does:
	// indented by two spaces.
	for _, src := range []string{`toJSON(payload.obj) == "{\n  \"k\": \"v\"\n}"`, `toJSON(payload) contains "\"ref\": \"refs/heads/main\""`} {
		e, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		d := &Data{ContentType: "application/json", Body: []byte(`{"ref":"refs/heads/main","obj":{"k":"v"}}`), Headers: map[string]string{}, Query: map[string]string{}}
		if ok, err := e.Eval(d); !ok || err != nil {
			t.Errorf("%s = %v, %v; want true", src, ok, err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ok, err := e.Eval(&Data{ContentType: "application/json", Body: []byte(body), Headers: map[string]string{}, Query: map[string]string{}})
	runtime.ReadMemStats(&after)
	if ok || err != nil {
		t.Errorf("Eval = %v, %v; want false", ok, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("a %d-byte body made toJSON allocate %d MB", len(body), alloc>>20)
	}
}

// TestIndentFits: IndentFits tells what json.MarshalIndent adds to a
// value, at the top and one level down, within a few bytes: it fits in
// what indenting adds, and not in much less.
func TestIndentFits(t *testing.T) {
	for _, src := range []string{`{"a":1}`, `[1,2,3]`, `{"a":{"b":[1,{"c":2}]},"d":[]}`, `[{},{},[],{}]`,
		`{"k":[` + strings.TrimSuffix(strings.Repeat(`{"x":1,"y":[1,2],"z":{}},`, 200), ",") + `]}`} {
		var v any
		if err := json.Unmarshal([]byte(src), &v); err != nil {
			t.Fatal(err)
		}
		for level, wrapped := range []any{v, map[string]any{"p": v}} {
			compact, _ := json.Marshal(wrapped)
			indented, _ := json.MarshalIndent(wrapped, "", "  ")
			added := len(indented) - len(compact)
			if level == 1 {
				added -= 3 // the wrapper's own: a newline after {, one before }, a space after "p":
			}
			if !IndentFits(v, level, added) {
				t.Errorf("%.40s at level %d: IndentFits(v, %d), what indenting adds, = false", src, level, added)
			}
			if added > 8 && IndentFits(v, level, added-8) {
				t.Errorf("%.40s at level %d: IndentFits(v, %d), 8 bytes less than indenting adds, = true", src, level, added-8)
			}
		}
	}
}

// TestTemplate_HugeExponent: a number of a few bytes with an enormous
// exponent (1e100000000) is a Decimal; printf's float verbs over it made
// math/big write out every digit, which took minutes to forever and as
// much memory, in a render no timeout covers, holding its action's slot.
// Past what any real amount needs, the number prints as the sender wrote
// it.
func TestTemplate_HugeExponent(t *testing.T) {
	tests := []struct{ text, body, want string }{
		{`{{ printf "%.2f" .payload.n }}`, `{"n":1e100000000}`, "1e100000000"},
		{`{{ printf "%e" .payload.n }}`, `{"n":-1E+100000000}`, "-1E+100000000"},
		{`{{ printf "%g" .payload.n }}`, `{"n":1e-100000000}`, "0"}, // a float64, as 5e-400
		{`{{ printf "%.1f" .payload.n }}`, `{"n":5e-400}`, "0.0"},
		{`{{ printf "%.3e" .payload.n }}`, `{"n":1.5e400}`, "1.500e+400"},
	}
	for _, tc := range tests {
		done := make(chan string, 1)
		go func() {
			got, err := MustParse("t", tc.text).Execute(&Data{ContentType: "application/json", Body: []byte(tc.body)})
			done <- fmt.Sprintf("%q, %v", got, err)
		}()
		select {
		case got := <-done:
			if want := fmt.Sprintf("%q, <nil>", tc.want); got != want {
				t.Errorf("%s over %s = %s; want %s", tc.text, tc.body, got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s over %s still renders after 2s", tc.text, tc.body)
		}
	}
}

// TestTemplate_ExponentPastBigFloat: an exponent past what math/big's
// Float holds (1e1000000000, 1e2147483647) prints as sent, as the README
// says of every number past 10^±9864: it printed "+Inf", a value the
// sender never wrote, or printf's "%!f(string=1e)", its text cut to the
// precision.
func TestTemplate_ExponentPastBigFloat(t *testing.T) {
	for _, tc := range []struct{ text, body, want string }{
		{`{{ printf "%.2f" .payload.n }}`, `{"n":1e1000000000}`, "1e1000000000"},
		{`{{ printf "%e" .payload.n }}`, `{"n":-1e1000000000}`, "-1e1000000000"},
		{`{{ printf "%.2f" .payload.n }}`, `{"n":1e2147483647}`, "1e2147483647"},
		{`{{ printf "%.2f" .payload.n }}`, `{"n":1e99999999999999999999}`, "1e99999999999999999999"},
		{`{{ printf "%.2f" .payload.n }}`, `{"n":123456789012345678901234567890}`, "123456789012345678901234567890.00"},
	} {
		got, err := MustParse("t", tc.text).Execute(&Data{ContentType: "application/json", Body: []byte(tc.body)})
		if err != nil || got != tc.want {
			t.Errorf("%s over %s = %q, %v; want %q", tc.text, tc.body, got, err, tc.want)
		}
	}
}

// TestTemplate_NoValueWrittenInTheTemplate: "<no value>" that the
// template's own text holds is not taken for a missing value.
func TestTemplate_NoValueWrittenInTheTemplate(t *testing.T) {
	d := &Data{ContentType: "application/json", Body: []byte(`{"a":"x"}`)}
	if got, err := MustParse("t", "<no value> {{ .payload.a }}").Execute(d); err != nil || got != "<no value> x" {
		t.Errorf("Execute = %q, %v; want %q", got, err, "<no value> x")
	}
}

// TestParse_AndFirstOperandAlwaysRuns: the first operand of and and or is
// evaluated by every run, so a mistake there is an error, as at the top
// level; only the operands after it are parts some runs skip (warnings).
func TestParse_AndFirstOperandAlwaysRuns(t *testing.T) {
	for text, want := range map[string]string{
		`{{ if and .paylod.x .payload.y }}a{{ end }}`: "no field .paylod",
		`{{ or .paylod.x "b" }}`:                      "no field .paylod",
		`{{ if and lower .payload.y }}a{{ end }}`:     "wrong number of args for lower: want 1 got 0",
	} {
		if _, err := Parse("t", text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want the mistake an error: %q", text, err, want)
		}
	}
	tp, err := Parse("t", `{{ and .payload.x .paylod.y }}`)
	if err != nil || len(tp.Warnings()) != 1 {
		t.Errorf("a mistake in the second operand: %v, warnings %v; want one warning", err, tp.Warnings())
	}
}

// TestExpr_ExplainWithoutValues: a when that reads no value (a constant
// comparison) is explained by its text, not by nothing.
func TestExpr_ExplainWithoutValues(t *testing.T) {
	e, err := Compile("1 > 2")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Explain(&Data{}); got != "when is false: 1 > 2" {
		t.Errorf("Explain = %q; want %q", got, "when is false: 1 > 2")
	}
}
