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
