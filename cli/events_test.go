package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A page of `webhookd events` can come back empty with more to see: one
// listing looks at a bounded number of events, and when none of them match
// the filter, the API answers no events and a cursor. The command says so
// and prints its more: line, the way on to the older events; at the end of
// the list it says there are no events.
func TestEvents_EmptyPageShowsMore(t *testing.T) {
	const cursor = "06H4Y3M9QM000000"
	for _, tc := range []struct {
		name   string
		answer string
		want   string // the output, but for the more: line's -config
	}{
		{name: "cursor", answer: `{"events": [], "next": "` + cursor + `"}`,
			want: "none of the most recent events match; older ones may\nmore: webhookd events -config CONFIG -hook other -before " + cursor + "\n"},
		{name: "end", answer: `{"events": []}`, want: "no events\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/events" || r.URL.Query().Get("hook") != "other" {
					http.Error(w, `{"error": "unexpected request"}`, http.StatusNotFound)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tc.answer)
			}))
			defer api.Close()
			cfg := filepath.Join(t.TempDir(), "webhookd.toml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, "[admin]\nlisten = %q\n[[hook]]\nid = \"other\"\nprovider = \"none\"\n", api.Listener.Addr().String()), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			if err := cmdEvents().Run(context.Background(), env, []string{"-config", cfg, "-hook", "other"}); err != nil {
				t.Fatalf("events -hook other: %v (stderr %q)", err, stderr.String())
			}
			if got := strings.ReplaceAll(stdout.String(), shellQuote(cfg), "CONFIG"); got != tc.want {
				t.Errorf("events -hook other printed:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
