package admin

import (
	"bytes"
	"net/url"
	"testing"
)

// TestFormPayload_AsParseQuery: the payload of a form that has it alone,
// read without url.ParseQuery, is what url.ParseQuery reads.
func TestFormPayload_AsParseQuery(t *testing.T) {
	for _, body := range []string{
		"", "payload=", "payload=x", "payload=%7B%22a%22%3A1%7D", "payload=a+b%2Bc", "payload=%", "payload=%4", "payload=%4g", "payload=%zz",
		"payload=%e2%80%a8%FF", "payload=a&b=c", "payload=a;b", "payload=a&", "&payload=a", "payload=a&payload=b", "p%61yload=a",
		"payload", "payload=a=b", "other=a", "payload=%%41", "payload=+%20+",
	} {
		checkFormPayload(t, []byte(body))
	}
}

func checkFormPayload(t *testing.T, body []byte) {
	t.Helper()
	var want []byte
	if vals, err := url.ParseQuery(string(body)); err == nil && len(vals) == 1 && vals.Get("payload") != "" {
		want = []byte(vals.Get("payload"))
	}
	if got := formPayload(body); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Errorf("formPayload(%q) = %q; want %q (url.ParseQuery's)", body, got, want)
	}
}

func FuzzFormPayload(f *testing.F) {
	for _, s := range []string{"payload=%7B%22a%22%3A1%7D", "payload=a+b", "payload=%4", "a=1&payload=2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkFormPayload(t, body) })
}
