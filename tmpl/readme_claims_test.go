package tmpl

import (
	"strings"
	"testing"
	"time"
)

// Tests for the README's Templates and when paragraphs ([[hook.action]]),
// where the tests above do not already hold a claim.

// TestREADME_TemplateFunctionsAndFields: every function the README lists
// besides text/template's own, and the fields the other tests do not
// render (.body, .received).
func TestREADME_TemplateFunctionsAndFields(t *testing.T) {
	t.Setenv("WEBHOOKD_TMPL_TEST", "from-env")
	d := &Data{ID: "01ABC", Hook: "site", Event: "push", Delivery: "d-1", ContentType: "application/json",
		Received: time.Unix(1700000000, 0).UTC(),
		Body:     []byte(`{"ref":"refs/heads/Main","name":"  padded  ","path":"a/b/c/","repo":{"x":1}}`),
		Headers:  map[string]string{"x-github-event": "push"}, Query: map[string]string{}}
	for _, tc := range []struct{ text, want string }{
		{`{{ env "WEBHOOKD_TMPL_TEST" }}`, "from-env"},
		{`{{ json .payload.repo }}`, `{"x":1}`},
		{`{{ lower .payload.ref }}`, "refs/heads/main"},
		{`{{ upper .payload.ref }}`, "REFS/HEADS/MAIN"},
		{`[{{ trim .payload.name }}]`, "[padded]"},
		{`{{ trimPrefix "refs/heads/" .payload.ref }}`, "Main"},
		{`{{ trimSuffix "/" .payload.path }}`, "a/b/c"},
		{`{{ replace "/" "-" .payload.path }}`, "a-b-c-"},
		{`{{ .body }}`, `{"ref":"refs/heads/Main","name":"  padded  ","path":"a/b/c/","repo":{"x":1}}`},
		{`{{ .received.Unix }}`, "1700000000"},
		{`{{ index .headers "x-github-event" }}`, "push"},
	} {
		got, err := MustParse("t", tc.text).Execute(d)
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
}

// TestREADME_NotOneJSONValueHasNoPayload: the README's example, {"a":1}},
// has no .payload: a template that reads it fails the run, and .body
// still has the bytes.
func TestREADME_NotOneJSONValueHasNoPayload(t *testing.T) {
	d := &Data{ContentType: "application/json", Body: []byte(`{"a":1}}`), Headers: map[string]string{}, Query: map[string]string{}}
	if got, err := MustParse("t", `{{ .payload.a }}`).Execute(d); err == nil {
		t.Errorf("{{ .payload.a }} over {\"a\":1}} = %q; want an error", got)
	}
	if got, err := MustParse("t", `{{ .body }}`).Execute(d); err != nil || got != `{"a":1}}` {
		t.Errorf("{{ .body }} = %q, %v; want the body", got, err)
	}
	e, err := Compile(`payload == nil`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.Eval(d); err != nil || !ok {
		t.Errorf("when payload == nil = %v, %v; want true", ok, err)
	}
}

// TestREADME_FractionWithWholeConstant: a number written with a fraction
// compared with a whole constant, or a whole one with a fraction
// constant, is an error for the run, not a silent false.
func TestREADME_FractionWithWholeConstant(t *testing.T) {
	d := &Data{ContentType: "application/json", Body: []byte(`{"amount":12.5,"count":11}`)}
	for _, text := range []string{`{{ if gt .payload.amount 10 }}y{{ end }}`, `{{ if gt .payload.count 10.5 }}y{{ end }}`} {
		if got, err := MustParse("t", text).Execute(d); err == nil || !strings.Contains(err.Error(), "incompatible types for comparison") {
			t.Errorf("%s = %q, %v; want an incompatible types error", text, got, err)
		}
	}
	for _, text := range []string{`{{ if gt .payload.amount 10.0 }}y{{ end }}`, `{{ if gt .payload.count 10 }}y{{ end }}`} {
		if got, err := MustParse("t", text).Execute(d); err != nil || got != "y" {
			t.Errorf("%s = %q, %v; want y", text, got, err)
		}
	}
}

// TestREADME_WarningFailsTheRunsThatTakeIt: a mistake in a branch loads
// with a warning; an event that takes the branch fails, one that does
// not renders.
func TestREADME_WarningFailsTheRunsThatTakeIt(t *testing.T) {
	tp, err := Parse("run[1]", `{{ if eq .event "release" }}{{ .paylod.tag }}{{ else }}ok{{ end }}`)
	if err != nil {
		t.Fatalf("Parse = %v; want a warning, not an error", err)
	}
	if len(tp.Warnings()) != 1 || !strings.Contains(tp.Warnings()[0], "template: 1: no field .paylod") {
		t.Errorf("warnings = %q; want one naming .paylod at line 1", tp.Warnings())
	}
	push := &Data{Event: "push", ContentType: "application/json", Body: []byte(`{}`)}
	if got, err := tp.Execute(push); err != nil || got != "ok" {
		t.Errorf("push = %q, %v; want ok", got, err)
	}
	rel := &Data{Event: "release", ContentType: "application/json", Body: []byte(`{}`)}
	if got, err := tp.Execute(rel); err == nil {
		t.Errorf("release = %q; want an error", got)
	}
}

// TestREADME_WhenNames: when sees event, payload, headers, query, hook and
// delivery, and the README's examples work; false explains with the
// values it looked at.
func TestREADME_WhenNames(t *testing.T) {
	d := &Data{Hook: "site", Event: "push", Delivery: "d-1", ContentType: "application/json",
		Body:    []byte(`{"ref":"refs/heads/main","action":"opened"}`),
		Headers: map[string]string{"x-gitlab-event": "Push Hook"}, Query: map[string]string{"env": "prod"}}
	for _, tc := range []struct {
		text    string
		want    bool
		explain string
	}{
		{`event == "push" && payload.ref == "refs/heads/main"`, true, ""},
		{`payload.action in ["opened", "synchronize"]`, true, ""},
		{`headers["x-gitlab-event"] == "Push Hook"`, true, ""},
		{`query.env == "staging"`, false, `when is false: query.env is "prod"`},
		{`delivery == "d-2"`, false, `when is false: delivery is "d-1"`},
		{`hook == "other" || event == "tag"`, false, `when is false: hook is "site", event is "push"`},
	} {
		e, err := Compile(tc.text)
		if err != nil {
			t.Fatalf("Compile(%s) = %v", tc.text, err)
		}
		got, err := e.Eval(d)
		if err != nil || got != tc.want {
			t.Errorf("Eval(%s) = %v, %v; want %v", tc.text, got, err, tc.want)
		}
		if !tc.want {
			if ex := e.Explain(d); ex != tc.explain {
				t.Errorf("Explain(%s) = %q; want %q", tc.text, ex, tc.explain)
			}
		}
	}
}

// TestREADME_WhenFails: a when that fails as it runs (a whole number past
// 64 bits compared, a string compared with a number, a member of a key
// the payload lacks) is an error, which Plan records as the skip reason.
func TestREADME_WhenFails(t *testing.T) {
	d := &Data{ContentType: "application/json", Body: []byte(`{"amount":12345678901234567890,"s":"x"}`), Headers: map[string]string{}, Query: map[string]string{}}
	for _, text := range []string{`payload.amount > 10`, `payload.s > 10`, `payload.nope.x == 1`} {
		e, err := Compile(text)
		if err != nil {
			t.Fatalf("Compile(%s) = %v", text, err)
		}
		if ok, err := e.Eval(d); err == nil || !strings.HasPrefix(err.Error(), "when: ") {
			t.Errorf("Eval(%s) = %v, %v; want a when: error", text, ok, err)
		}
	}
}

// TestREADME_NumberBounds: a number past about ±10^9864 prints as sent
// (1e9865, -1e9865), one just within is written out; one nearer 0 than a
// float64 holds (1e-400) prints as 0.
func TestREADME_NumberBounds(t *testing.T) {
	for _, tc := range []struct{ text, n, want string }{
		{`{{ printf "%.2f" .payload.n }}`, "1e9865", "1e9865"},
		{`{{ printf "%.2f" .payload.n }}`, "-1e9865", "-1e9865"},
		{`{{ .payload.n }}`, "1e-400", "0"},
		{`{{ printf "%g" .payload.n }}`, "1e-400", "0"},
	} {
		d := &Data{ContentType: "application/json", Body: []byte(`{"n":` + tc.n + `}`)}
		if got, err := MustParse("t", tc.text).Execute(d); err != nil || got != tc.want {
			t.Errorf("%s over %s = %q, %v; want %q", tc.text, tc.n, got, err, tc.want)
		}
	}
	d := &Data{ContentType: "application/json", Body: []byte(`{"n":1e9863}`)}
	if got, err := MustParse("t", `{{ printf "%.0f" .payload.n }}`).Execute(d); err != nil || len(got) < 9863 {
		t.Errorf("printf %%.0f over 1e9863 = %d characters, %v; want it written out (math/big's 256-bit value: 9863 digits or more)", len(got), err)
	}
}
