package admin

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// A header that came as several lines (two proxies' X-Forwarded-For, a
// signature header sent twice) is shown with every value, combined as
// HTTP combines them; the API showed the first alone, so the event did
// not show what was received.
func TestAPI_EventHeaderLines(t *testing.T) {
	e := newEnv(t, "")
	res, err := e.st.Ingest(context.Background(), &store.NewEvent{
		Hook: "site", Type: "push", Received: time.Now(), ContentType: "application/json",
		Header: http.Header{
			"X-Forwarded-For":     {"198.51.100.1", "203.0.113.9"},
			"X-Hub-Signature-256": {"sha256=aaaa", "sha256=bbbb"},
			"Content-Type":        {"application/json"},
		},
		Body: []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := e.event(res.ID)
	for k, want := range map[string]string{
		"X-Forwarded-For":     "198.51.100.1, 203.0.113.9",
		"X-Hub-Signature-256": "sha256=aaaa, sha256=bbbb",
		"Content-Type":        "application/json",
	} {
		if got := ev.Headers[k]; got != want {
			t.Errorf("header %s = %q; want %q", k, got, want)
		}
	}
}
