package main

import (
	"strings"
	"testing"
)

// TestE2E_SendEveryProvider: `webhookd send HOOK` signs a test delivery as
// each provider's sender would, and the daemon accepts it; for discord
// and sendgrid, which sign with a private key only the sender holds, it
// fails and says so (README, "## Providers").
func TestE2E_SendEveryProvider(t *testing.T) {
	ps := e2eProviders(t)
	dir := t.TempDir()
	writeConfig(t, dir, providersConfig(ps))
	d := startDaemon(t, dir)
	sendCfg := admSendConfig(t, d)
	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			args := []string{"send", "-config", sendCfg}
			if p.event != "" {
				args = append(args, "-event", p.event)
			}
			r := admCLI(t, nil, append(args, p.name, p.body)...)
			switch p.name {
			case "discord", "sendgrid":
				if r.code != 1 || !strings.Contains(r.stderr, "private key") {
					t.Errorf("send %s = %d %q; want exit 1 naming the private key", p.name, r.code, r.stderr)
				}
				return
			}
			want := "202 Accepted"
			if p.name == "zoom" {
				want = "200 OK" // Zoom asks for 200 or 204
			}
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("send %s = %d %q %q; want exit 0 and %s", p.name, r.code, r.stdout, r.stderr, want)
			}
		})
	}
}
