package config

import (
	"strings"
	"testing"
)

func TestParse_ACME(t *testing.T) {
	cfg, warns, err := Parse("c.toml", []byte(`[server]
listen = ":443"
acme_domains = ["hooks.example.com"]
acme_email = "ops@example.com"
acme_directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if len(s.ACMEDomains) != 1 || s.ACMEEmail != "ops@example.com" || s.ACMEDirectory != "https://acme-staging-v02.api.letsencrypt.org/directory" {
		t.Errorf("server = %+v", s)
	}
	if len(warns) != 0 {
		t.Errorf("warnings = %q; want none on :443", warns)
	}

	// On another port with no acme_http, no CA can reach a challenge.
	_, warns, err = Parse("c.toml", []byte("[server]\nlisten = \":9000\"\nacme_domains = [\"hooks.example.com\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "c.toml:3:") || !strings.Contains(warns[0], "acme_http") {
		t.Errorf("warnings = %q; want one at line 3 about acme_http", warns)
	}
	_, warns, _ = Parse("c.toml", []byte("[server]\nlisten = \":9000\"\nacme_domains = [\"hooks.example.com\"]\nacme_http = \":80\"\n"))
	if len(warns) != 0 {
		t.Errorf("warnings with acme_http = %q; want none", warns)
	}
}

func TestParse_ACMEErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"directory not https", "[server]\nacme_domains = [\"a.example\"]\nacme_directory = \"http://ca.example/dir\"", `c.toml:3: acme_directory "http://ca.example/dir": want an https:// URL`},
		{"acme_http without domains", "[server]\nacme_http = \":80\"", `c.toml:1: acme_email, acme_http and acme_directory need acme_domains`},
		{"acme_http not an address", "[server]\nacme_domains = [\"a.example\"]\nacme_http = \"80\"", `c.toml:3: acme_http "80": want host:port`},
		{"acme and cert files", "[server]\nacme_domains = [\"a.example\"]\ntls_cert = \"c.toml\"\ntls_key = \"c.toml\"", `acme_domains and tls_cert exclude each other`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v; want %q", err, tc.want)
			}
		})
	}
}
