package tmpl

import (
	"strings"
	"testing"
)

// TestParseURL: what an action prints into a URL's path or query is
// escaped for that part; what comes before the path, what urlquery
// escapes already, and the rest of the template are not touched.
func TestParseURL(t *testing.T) {
	d := &Data{Hook: "h", ContentType: "application/json",
		Body: []byte(`{"ref":"feature/x y&z#f?q","n":1.50,"u":"https://hooks.slack.com/a/b?c=d","host":"ci.example","nil":null,"v6":"[::1]:9000","tags":["a b","c&d"]}`)}
	for _, tc := range []struct{ name, text, want string }{
		{"path", "https://ci/job/{{ .payload.ref }}/run", "https://ci/job/feature/x%20y&z%23f%3Fq/run"},
		{"query", "https://ci/job?ref={{ .payload.ref }}&n={{ .payload.n }}", "https://ci/job?ref=feature%2Fx+y%26z%23f%3Fq&n=1.5"},
		{"urlquery not twice", "https://ci/job?ref={{ .payload.ref | urlquery }}&r={{ urlquery .payload.ref }}", "https://ci/job?ref=feature%2Fx+y%26z%23f%3Fq&r=feature%2Fx+y%26z%23f%3Fq"},
		{"whole url", "{{ .payload.u }}", "https://hooks.slack.com/a/b?c=d"},
		{"host", "https://{{ .payload.host }}/x/{{ .payload.ref }}", "https://ci.example/x/feature/x%20y&z%23f%3Fq"},
		{"prefix then path", "{{ .payload.u }}/{{ .hook }} x", "https://hooks.slack.com/a/b?c=d/h x"},
		{"branches", "https://ci/{{ if .payload.ref }}?r={{ .payload.ref }}{{ else }}{{ .hook }}{{ end }}", "https://ci/?r=feature%2Fx+y%26z%23f%3Fq"},
		{"variable", "https://ci/{{ $r := .payload.ref }}{{ $r }}", "https://ci/feature/x%20y&z%23f%3Fq"},
		{"fragment", "https://ci/#{{ .payload.ref }}", "https://ci/#feature%2Fx+y%26z%23f%3Fq"},
		{"plain", "https://ci/a b", "https://ci/a b"},
		// The host is printed as it is, also one that path escaping would change.
		{"ipv6 host", "http://{{ .payload.v6 }}/in", "http://[::1]:9000/in"},
		{"range body", "https://ci/x?{{ range .payload.tags }}tag={{ . }}&{{ end }}", "https://ci/x?tag=a+b&tag=c%26d&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := ParseURL("url", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tp.Execute(d); err != nil || got != tc.want {
				t.Errorf("Execute(%q) = %q, %v; want %q", tc.text, got, err, tc.want)
			}
		})
	}
	// A null is still an error that names it, not "%3Cno+value%3E".
	for _, text := range []string{"https://ci/?n={{ .payload.nil }}", "https://ci/{{ .payload.nil }}"} {
		tp := mustParseURL(t, text)
		if got, err := tp.Execute(d); err == nil || !strings.Contains(err.Error(), "null or missing") {
			t.Errorf("Execute(%q) = %q, %v; want the null refused", text, got, err)
		}
	}
}

func mustParseURL(t *testing.T, text string) *Template {
	t.Helper()
	tp, err := ParseURL("url", text)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
