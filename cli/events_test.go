package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
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

// With no daemon at the config's admin address and the database held by
// another process (a daemon whose [admin] listen changed in the file, not
// yet restarted), events and show say to reach it with -admin ADDR: the
// error said only that another process holds the file.
func TestOffline_HeldFileSaysAdmin(t *testing.T) {
	dir, cfg := offlineConfig(t)
	st, err := store.Open(filepath.Join(dir, "webhookd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, args := range [][]string{{"events"}, {"show", "06H56PMP74000000"}} {
		_, _, err := runCmd(t, args[0], append([]string{"-config", cfg}, args[1:]...)...)
		if err == nil || !errors.Is(err, store.ErrLocked) || strings.Count(err.Error(), "-admin ADDR") != 1 {
			t.Errorf("%s, the file held: %v; want it to say (once) to reach the daemon with -admin ADDR", args[0], err)
		}
	}
	// An [admin] listen of port 0 names no address, and says so with
	// -admin ADDR already: once is enough.
	if err := os.WriteFile(cfg, []byte("[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, "events", "-config", cfg)
	if err == nil || !errors.Is(err, store.ErrLocked) || strings.Count(err.Error(), "-admin ADDR") != 1 {
		t.Errorf("events, port 0, the file held: %v; want -admin ADDR named once", err)
	}
}

// Without -n, events asks the daemon for a page of 20 (README, Commands).
func TestEvents_DefaultPageSize(t *testing.T) {
	limits := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case limits <- r.URL.Query().Get("limit"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"events": []}`)
	}))
	t.Cleanup(api.Close)
	cfg := filepath.Join(t.TempDir(), "webhookd.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[admin]\nlisten = %q\n", api.Listener.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if err := cmdEvents().Run(context.Background(), env, []string{"-config", cfg}); err != nil {
		t.Fatalf("events: %v (stderr %q)", err, stderr.String())
	}
	select {
	case got := <-limits:
		if got != "20" {
			t.Errorf("events asked for limit=%q; want 20", got)
		}
	default:
		t.Fatal("events did not ask the daemon")
	}
}
