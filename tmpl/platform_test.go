package tmpl

import (
	"strconv"
	"strings"
	"testing"
)

// TestExpr_LargeIntegers: expr compares and computes integers as int, and
// on a 32-bit platform it took int() of a payload's int64: 4294967297 was
// 1 there, 2147483648 was negative, and a when over a GitHub comment's or
// a Telegram chat's id chose wrong without a word. Every platform answers
// as a 64-bit one does.
func TestExpr_LargeIntegers(t *testing.T) {
	d := &Data{ContentType: "application/json", Headers: map[string]string{}, Query: map[string]string{},
		Body: []byte(`{"id":4294967297,"big":2147483648,"chat":-1001234567890,"n":42,"snow":1234567890123456789,"flake":1234567890123456788,"list":[4294967297]}`)}
	for _, tc := range []struct {
		text string
		want bool
	}{
		{`payload.id == 1`, false},
		{`payload.id != 1`, true},
		{`payload.big > 0`, true},
		{`payload.big > 2147483647`, true},
		{`payload.chat < 0`, true},
		{`payload.chat == -1001234567890.0`, true},
		{`payload.id == 4294967297.0`, true},
		{`payload.id > 4294967296.0 && payload.id < 4294967298.0`, true},
		{`payload.list[0] == 1`, false},
		{`payload.n == 42 && payload.n + 1 == 43`, true},
		{`payload.snow == payload.snow`, true},
		{`payload.snow == payload.flake`, false}, // not within a float64's rounding
	} {
		e, err := Compile(tc.text)
		if err != nil {
			t.Fatalf("Compile(%s): %v", tc.text, err)
		}
		if got, err := e.Eval(d); err != nil || got != tc.want {
			t.Errorf("Eval(%s) = %v, %v; want %v", tc.text, got, err, tc.want)
		}
	}
	// An explanation shows them as they were sent.
	e, err := Compile(`payload.id == 2 || payload.snow == payload.n`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Explain(d), "payload.id is 4294967297, payload.snow is 1234567890123456789, payload.n is 42"; !strings.Contains(got, want) {
		t.Errorf("Explain = %q; want it to contain %q", got, want)
	}
	// An integer literal past int: a 64-bit platform compares it exactly;
	// a 32-bit one cannot hold it, and says how to write it.
	e, err = Compile(`payload.chat == -1001234567890`)
	if strconv.IntSize == 32 {
		if err == nil || !strings.Contains(err.Error(), "integer literal is too large") || !strings.Contains(err.Error(), "4294967297.0") {
			t.Errorf("Compile of a literal past int32 = %v; want an error that says to write it with a fraction", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.Eval(d); err != nil || !got {
		t.Errorf("Eval(payload.chat == -1001234567890) = %v, %v; want true", got, err)
	}
}

// TestParse_IntegerConstantPastInt: text/template makes an integer
// constant an int as it runs, and fails at one past int: on a 32-bit
// platform {{ if eq .payload.id 4294967297 }} loaded, and every run of
// the action failed on it. It is a load error (a warning in a part some
// runs skip), on every platform for a constant past int64, and the text
// comparison it suggests works.
func TestParse_IntegerConstantPastInt(t *testing.T) {
	d := &Data{ContentType: "application/json", Headers: map[string]string{}, Query: map[string]string{},
		Body: []byte(`{"id":4294967297,"n":5}`)}
	render := func(text string) string {
		t.Helper()
		tp, err := Parse("t", text)
		if err != nil {
			t.Fatalf("Parse(%s): %v", text, err)
		}
		out, err := tp.Execute(d)
		if err != nil {
			t.Fatalf("Execute(%s): %v", text, err)
		}
		return out
	}
	big := `{{ if eq .payload.id 4294967297 }}yes{{ end }}`
	if strconv.IntSize == 64 {
		if got := render(big); got != "yes" {
			t.Errorf("%s = %q; want yes", big, got)
		}
	} else {
		want := `template: 1: 4294967297 is past the integers of this platform (-2147483648 to 2147483647): compare the number as text, such as eq (printf "%d" .payload.x) "4294967297"`
		if _, err := Parse("t", big); err == nil || err.Error() != want {
			t.Errorf("Parse(%s) = %v; want %s", big, err, want)
		}
		tp, err := Parse("t", "{{ if .payload.n }}{{ printf \"%d\" 4294967297 }}{{ end }}")
		if err != nil || len(tp.Warnings()) != 1 || !strings.Contains(tp.Warnings()[0], "4294967297 is past the integers") {
			t.Errorf("in a branch: %v, warnings %q; want one warning", err, tp.Warnings())
		}
	}
	if _, err := Parse("t", `{{ printf "%d" 9223372036854775808 }}`); err == nil || !strings.Contains(err.Error(), "9223372036854775808 is past the integers of this platform") {
		t.Errorf("a constant past int64: %v; want the error", err)
	}
	for _, text := range []string{`{{ if eq (printf "%d" .payload.id) "4294967297" }}yes{{ end }}`, `{{ if gt .payload.n 4 }}yes{{ end }}`, `{{ if eq 4294967297.5 4294967297.5 }}yes{{ end }}`} {
		if got := render(text); got != "yes" {
			t.Errorf("%s = %q; want yes", text, got)
		}
	}
}
