package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzTemplates are templates as configs write them, over every part of
// the data a sender controls.
var fuzzTemplates = []string{
	"{{ .payload.ref }}",
	"{{ .payload.repository.full_name }}/{{ .payload.ref }}",
	"{{ .payload.after }}",
	`{{ json .payload }}`,
	`{{ range $k, $v := .payload }}{{ $k }}={{ $v }};{{ end }}`,
	`{{ index .payload "commits" }}`,
	`{{ (index .payload.commits 0).id }}`,
	`{{ printf "%v %T" .payload .payload }}`,
	`{{ trimPrefix "refs/heads/" .payload.ref | upper | lower | trim }}`,
	`{{ replace "/" "-" .payload.ref }}`,
	`{{ index .headers "x-github-event" }} {{ .query.q }}`,
	`{{ .body }}`,
	`{{ if .payload.deleted }}deleted{{ else }}kept{{ end }}`,
	`{{ with .payload.head_commit }}{{ .message }}{{ end }}`,
	`{{ len .payload.commits }}`,
	`{"text": "deployed {{ .payload.after }} of {{ json .payload.repository }}"}`,
}

// fuzzExprs are when expressions as configs write them.
var fuzzExprs = []string{
	`event == "push" && payload.ref == "refs/heads/main"`,
	`payload.ref startsWith "refs/tags/"`,
	`payload.size > 10 && payload.ratio < 1.5`,
	`len(payload.commits) > 0`,
	`any(payload.commits, {.id == "1"})`,
	`"bot" in payload.labels`,
	`payload.repository.full_name matches "^o/"`,
	`headers["x-github-event"] == "push" || query.q == "1"`,
	`payload.head_commit == nil`,
	`payload.action in ["opened", "synchronize"] and not payload.pull_request.draft`,
}

// fuzzData is push() with a body and content type from the fuzzer.
func fuzzData(ctype string, body []byte) *Data {
	d := push()
	d.ContentType = ctype
	d.Body = body
	d.Headers = map[string]string{"x-github-event": string(body[:min(len(body), 16)])}
	d.Query = map[string]string{"q": ctype}
	return d
}

// FuzzExecute renders every template over hostile payloads: JSON of any
// shape and depth, forms, invalid UTF-8. It must never panic; an error
// names a problem with the payload; a result never hides a missing value
// as "<no value>"; .body renders the body exactly.
func FuzzExecute(f *testing.F) {
	f.Add("application/json", []byte(push().Body))
	f.Add("application/json", []byte(`{"ref":null,"commits":"nope","repository":[1,2]}`))
	f.Add("application/json", []byte(`{"commits":[{"id":{"x":1}}],"ref":1e999,"after":-0}`))
	f.Add("application/json", []byte(strings.Repeat("[", 3000)+strings.Repeat("]", 3000)))
	f.Add("application/x-www-form-urlencoded", []byte("payload=%7B%22ref%22%3A%22x%22%7D"))
	f.Add("application/x-www-form-urlencoded", []byte("ref=%ff%fe&ref=2&commits=x"))
	f.Add("text/plain", []byte("\xff\xfe{{ .payload }}"))
	f.Add("application/json; charset=\xff", []byte(`{"ref":"\ud800","after":"<no value>"}`))
	f.Add("application/json", []byte(`{"ref":null,"after":"\u003cno value\u003e"}`))
	f.Add("application/x-www-form-urlencoded", []byte("payload=%7B%22ref%22%3Anull%2C%22after%22%3A%22%3Cno+value%3E%22%7D"))
	texts := make([]*Template, len(fuzzTemplates))
	for i, s := range fuzzTemplates {
		texts[i] = MustParse("t", s)
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		d := fuzzData(ctype, body)
		for i, tpl := range texts {
			out, err := tpl.Execute(d)
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("Execute(%q) failed with an empty message", fuzzTemplates[i])
				}
				continue
			}
			if strings.Contains(out, noValue) && !saysNoValue(ctype, body) {
				t.Fatalf("Execute(%q) = %q: a missing value rendered as %s", fuzzTemplates[i], out, noValue)
			}
		}
		if out, err := texts[11].Execute(d); err == nil && out != string(body) && !(len(body) == 0 && out == "") {
			t.Fatalf("{{ .body }} = %q; want the body %q", out, body)
		}
	})
}

// saysNoValue reports whether an event holds the text "<no value>": in its
// body or content type as sent, or in a string or key of its payload as
// decoded (a JSON body may escape it as \u003c, a form as %3C).
func saysNoValue(ctype string, body []byte) bool {
	if bytes.Contains(body, []byte(noValue)) || strings.Contains(ctype, noValue) {
		return true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ParsePayload(ctype, body)); err != nil {
		return true // not expected: say yes rather than fail the target
	}
	return bytes.Contains(b.Bytes(), []byte(noValue))
}

// FuzzEval runs every when expression over hostile payloads, then Explain,
// as the planner does for a false one. Neither may panic; an error is
// reported as such, and an explanation is short and says why.
func FuzzEval(f *testing.F) {
	f.Add("application/json", []byte(push().Body))
	f.Add("application/json", []byte(`{"ref":["x"],"size":"big","ratio":null,"commits":{"id":1},"labels":"bot"}`))
	f.Add("application/json", []byte(`{"repository":{"full_name":7},"action":{},"pull_request":{"draft":"yes"}}`))
	f.Add("application/json", []byte(`{"size":123456789012345678901234567890,"ratio":1e400}`))
	f.Add("application/x-www-form-urlencoded", []byte("ref=refs%2Fheads%2Fmain&labels=bot"))
	f.Add("text/plain", []byte("\x00\xff"))
	exprs := make([]*Expr, len(fuzzExprs))
	for i, s := range fuzzExprs {
		e, err := Compile(s)
		if err != nil {
			f.Fatalf("Compile(%q): %v", s, err)
		}
		exprs[i] = e
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		d := fuzzData(ctype, body)
		for i, e := range exprs {
			ok, err := e.Eval(d)
			if err != nil && ok {
				t.Fatalf("Eval(%q) = true with error %v", fuzzExprs[i], err)
			}
			ex := e.Explain(d)
			if !strings.HasPrefix(ex, "when is false: ") {
				t.Fatalf("Explain(%q) = %q; want it to start with %q", fuzzExprs[i], ex, "when is false: ")
			}
			// Each value shown is cut at 80 characters.
			if n := utf8.RuneCountInString(ex); n > len("when is false: ")+len(fuzzExprs[i])*2+12*90 {
				t.Fatalf("Explain(%q) is %d characters long", fuzzExprs[i], n)
			}
		}
	})
}

// FuzzSplitObject: splitObject accepts exactly the bodies that are valid
// JSON objects to encoding/json, and finds their members as encoding/json
// decodes them into a map (the last of a repeated key wins, escaped keys
// unescaped), with each value's exact text.
func FuzzSplitObject(f *testing.F) {
	f.Add([]byte(push().Body))
	f.Add([]byte(` { "r\u0065f" : "x" , "ref":"y", "a":"}{\"" ,"b":[{"c":"]"}], "n": -1.5e3,"t":true,"z":null } `))
	f.Add([]byte(`{"\ud800":1,"\xff":2,"":{}}`))
	f.Add([]byte(`[{"ref":"x"}]`))
	f.Add([]byte(`"{\"ref\":1}"`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a":[1,-0,0.5,1e+9,-2E-3,true,false,null,"\u00e9\n"],"b":{"c":{}}}`))
	f.Add([]byte(`{"a":01}`))
	f.Add([]byte(`{"a":"tab	in string"}`))
	f.Add([]byte(`{"a":1}}`))
	f.Add([]byte(`{"a":1,}`))
	f.Add([]byte(`{"a":tru}`))
	f.Add([]byte(`{"a":"\x"}`))
	f.Add([]byte(`{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`))
	f.Add([]byte(`{"a":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		members, ok := splitObject(body)
		var want map[string]json.RawMessage
		isObject := json.Valid(body) && json.Unmarshal(body, &want) == nil && want != nil
		if ok != isObject {
			t.Fatalf("splitObject(%q) ok = %v; encoding/json: valid %v, decodes an object: %v", body, ok, json.Valid(body), isObject)
		}
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, m := range members {
			k := string(m.key)
			seen[k] = true
			if got := lookup(members, k); !bytes.Equal(got, want[k]) {
				t.Fatalf("splitObject(%q)[%q] = %q; encoding/json: %q", body, k, got, want[k])
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("splitObject(%q) found keys %v; encoding/json: %d keys", body, seen, len(want))
		}
	})
}

// FuzzParseJSON holds parseJSON, whose scalars skip the Decoder, to
// encoding/json: a value exactly when the bytes are one valid JSON value,
// and then the one a Decoder with UseNumber makes of them (numbers with
// every digit).
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`"refs/heads/main"`, ` "a\u00e9\n" `, `"\ud800"`, "\"\xff\"", `""`, `"a" "b"`, `"a`,
		`0`, `-0`, `12345678901234567890`, `1.5e3`, `-2E-3`, `01`, `-`, `1.`, `1e400`, ` 7 `, `1 2`,
		`true`, `false`, `null`, `nul`, `truex`, "\u00a0\"x\"", `{"a":1}`, `[1,"x",{}]`, `{"a":1}}`, `[1]]`, `{} {}`, ``, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseJSON(b)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		wantOK := json.Valid(b) && dec.Decode(&want) == nil
		if ok != wantOK {
			t.Fatalf("parseJSON(%q) ok = %v; encoding/json: %v", b, ok, wantOK)
		}
		if !ok {
			return
		}
		want = normalize(want)
		if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
			t.Fatalf("parseJSON(%q) = %s; a Decoder: %s", b, g, w)
		}
	})
}

// partialExprs read only constant top-level keys of the payload, so each
// takes payloadFor's fast path (splitObject, then each key decoded alone).
var partialExprs = []string{
	`payload.ref == "refs/heads/main"`,
	`payload.a == 1 || payload.b > 2.5`,
	`payload["é"] == "x" || payload["\u00e9"] == 1`,
	`payload.ref startsWith "refs/" && payload.after != nil`,
	`len(payload.c) > 1`,
	`payload.c[0] == 1`,
	`payload.n.x.y == true`,
	`payload[""] == nil`,
	`payload.a == -0 && payload.b == 1e2`,
	`toJSON(payload.n) == "{}"`,
	`string(payload.a) == "1"`,
	`type(payload.a) == "int"`,
}

// FuzzPartialPayload: an expression that reads a few top-level keys gives
// over the fast path the same result, error and explanation as over the
// whole payload parsed, for any body and content type. (FuzzSplitObject
// holds the split to encoding/json; this holds payloadFor's choice of
// path and its decoding of each key.)
func FuzzPartialPayload(f *testing.F) {
	f.Add("application/json", []byte(`{"ref":"refs/heads/main","a":1,"b":3}`))
	f.Add("application/json", []byte(`{"ref":"x","ref":"refs/heads/main","\u00e9":"x","c":[1,2],"n":{"x":{"y":true}}}`))
	f.Add("application/x-www-form-urlencoded", []byte(`payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D`))
	f.Add("text/plain", []byte(` {"a":-0,"b":1e2,"":null} `))
	f.Add("", []byte(`{"a":12345678901234567890,"b":1.0}`))
	f.Add("application/json", []byte(`{"ref":"refs/heads/main"} x`))
	f.Add("application/json", []byte("\xef\xbb\xbf{\"ref\":\"refs/heads/main\"}"))
	exprs := make([]*Expr, len(partialExprs))
	for i, s := range partialExprs {
		e, err := Compile(s)
		if err != nil {
			f.Fatalf("Compile(%q): %v", s, err)
		}
		if e.use.whole {
			f.Fatalf("Compile(%q) reads the whole payload; want a few keys", s)
		}
		exprs[i] = e
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		d1 := &Data{ContentType: ctype, Body: body}
		d2 := &Data{ContentType: ctype, Body: body}
		for i, e := range exprs {
			whole := *e
			whole.use = payloadUse{whole: true}
			got, gotErr := e.Eval(d1)
			want, wantErr := whole.Eval(d2)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s over %q %q: partial = %v, %v; whole = %v, %v", partialExprs[i], ctype, body, got, gotErr, want, wantErr)
			}
			if a, b := e.Explain(d1), whole.Explain(d2); a != b {
				t.Fatalf("Explain(%s) over %q %q: partial %q; whole %q", partialExprs[i], ctype, body, a, b)
			}
		}
	})
}
