package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/s3cret":  "https://hooks.slack.com/…",
		"hooks.slack.com/services/T0/B0/s3cret":          "hooks.slack.com/…",
		"deploy:hunter2@ci.example.com/hooks/x":          "…@ci.example.com/…",
		"http://deploy:hunter2@ci.example.com:8080?t=s3": "http://…@ci.example.com:8080/…",
		"http://127.0.0.1:9000":                          "http://127.0.0.1:9000",
		"ftp://a@b@host#frag":                            "ftp://…@host/…",
		"":                                               "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q; want %q", in, got, want)
		}
	}
}
