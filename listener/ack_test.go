package listener

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestDiscord_Acknowledge: a stored Discord delivery is answered as
// Discord requires, by its kind.
func TestDiscord_Acknowledge(t *testing.T) {
	p := &discord{}
	tests := []struct {
		body   string
		status int
		want   string
		ok     bool
	}{
		{`{"type":2,"id":"1"}`, 200, `{"type":5}`, true},
		{`{"type":5,"id":"1"}`, 200, `{"type":5}`, true},
		{`{"type":3,"id":"1"}`, 200, `{"type":6}`, true},
		{`{"type":4,"id":"1"}`, 200, `{"type":8,"data":{"choices":[]}}`, true},
		{`{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}`, http.StatusNoContent, "", true},
		{`{"type":99}`, 0, "", false},
		{`not json`, 0, "", false},
	}
	for _, tc := range tests {
		a, ok := p.Acknowledge(&Request{Body: []byte(tc.body)})
		if ok != tc.ok || a.Status != tc.status || string(a.Body) != tc.want {
			t.Errorf("Acknowledge(%s) = %d %q %v; want %d %q %v", tc.body, a.Status, a.Body, ok, tc.status, tc.want, tc.ok)
		}
	}
}

// TestZoom_StoredIs200: Zoom counts only 200 and 204 as delivered and
// sends a delivery answered otherwise three more times, with no id to
// tell the copies apart; a stored Zoom delivery is answered 200, with the
// event's id, and stored once.
func TestZoom_StoredIs200(t *testing.T) {
	p := mustProvider(t, signConfig("zoom", "k1"))
	e := newEnv(t, &Hook{ID: "z", Path: "/hooks/z", Provider: p, MaxBody: 1 << 20})
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/z"}, Body: testBody("zoom"), Event: "meeting.started", Now: time.Now()}
	if err := p.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{}
	for k := range s.Header {
		hdr[k] = s.Header.Get(k)
	}
	r := e.post(http.MethodPost, "/hooks/z", s.Body, hdr)
	if r.status != http.StatusOK || r.body["id"] == nil || r.body["jobs"] != 1.0 {
		t.Fatalf("a stored Zoom delivery = %d %v; want 200 with its id and 1 job", r.status, r.body)
	}
	evs, _, err := e.st.ListEvents(store.EventFilter{Hook: "z"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events stored = %d, %v; want 1", len(evs), err)
	}
}

// TestSlack_Acknowledge: a stored slash command or interaction (a form) is
// answered with an empty 200, which Slack takes as received without
// showing the user anything (a 202 with webhookd's JSON was neither); an
// Events API callback keeps the usual answer.
func TestSlack_Acknowledge(t *testing.T) {
	p := mustProvider(t, signConfig("slack", "k1"))
	e := newEnv(t, &Hook{ID: "s", Path: "/hooks/s", Provider: p, MaxBody: 1 << 20})
	post := func(ctype string, body []byte) (int, string) {
		s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/s"}, Body: body, Now: time.Now()}
		if err := p.(Signer).Sign(s); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/hooks/s", bytes.NewReader(s.Body))
		for k := range s.Header {
			req.Header.Set(k, s.Header.Get(k))
		}
		req.Header.Set("Content-Type", ctype)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	cmd := []byte("token=x&team_id=T1&command=%2Fdeploy&text=main&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=1.2.3")
	if st, body := post("application/x-www-form-urlencoded", cmd); st != http.StatusOK || body != "" {
		t.Errorf("slash command = %d %q; want 200 and no body", st, body)
	}
	action := []byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":[{"action_id":"deploy"}]}`))
	if st, body := post("application/x-www-form-urlencoded; charset=utf-8", action); st != http.StatusOK || body != "" {
		t.Errorf("interaction = %d %q; want 200 and no body", st, body)
	}
	if st, body := post("application/json", []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`)); st != http.StatusAccepted || !strings.Contains(body, `"id"`) {
		t.Errorf("Events API callback = %d %q; want 202 with the event's id", st, body)
	}
	evs, _, err := e.st.ListEvents(store.EventFilter{Hook: "s"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("events stored = %d, %v; want 3", len(evs), err)
	}
}

// signedPost signs body as p signs a delivery of event and POSTs it to
// path with content type ctype, returning the status and the raw body.
func (e *env) signedPost(p Provider, path, event, ctype string, body []byte) (int, string) {
	e.t.Helper()
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: path}, Body: body, Event: event, Now: time.Now()}
	if err := p.(Signer).Sign(s); err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(s.Body))
	for k := range s.Header {
		req.Header.Set(k, s.Header.Get(k))
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestIgnored_AnsweredAsTheSenderNeeds: a delivery that `events` leaves
// out is still answered as its sender needs. A Slack slash command has no
// event type, so a Slack hook with `events` ignores every one; Slack
// shows the user whatever body it gets, and {"ignored": ""} is no message
// for a person. A Discord Webhook Event must get 204. Nothing is stored.
// An ignored Discord interaction keeps 200 {"ignored"}, which Discord
// shows as failed: no action will follow it up.
func TestIgnored_AnsweredAsTheSenderNeeds(t *testing.T) {
	sp := mustProvider(t, signConfig("slack", "k1"))
	dp := mustProvider(t, signConfig("discord", ""))
	e := newEnv(t,
		&Hook{ID: "s", Path: "/hooks/s", Provider: sp, MaxBody: 1 << 20, Events: map[string]bool{"app_mention": true}},
		&Hook{ID: "d", Path: "/hooks/d", Provider: dp, MaxBody: 1 << 20, Events: map[string]bool{"APPLICATION_AUTHORIZED": true}},
	)
	form := "application/x-www-form-urlencoded"
	cmd := []byte("token=x&team_id=T1&command=%2Fdeploy&text=main&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=1.2.3")
	if st, body := e.signedPost(sp, "/hooks/s", "", form, cmd); st != http.StatusOK || body != "" {
		t.Errorf("ignored slash command = %d %q; want 200 and no body", st, body)
	}
	action := []byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":[{"action_id":"deploy"}]}`))
	if st, body := e.signedPost(sp, "/hooks/s", "", form+"; charset=utf-8", action); st != http.StatusOK || body != "" {
		t.Errorf("ignored interaction = %d %q; want 200 and no body", st, body)
	}
	cb := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"reaction_added"}}`)
	if st, body := e.signedPost(sp, "/hooks/s", "", "application/json", cb); st != http.StatusOK || !strings.Contains(body, `"ignored":"reaction_added"`) {
		t.Errorf("ignored Events API callback = %d %q; want 200 {\"ignored\"}", st, body)
	}
	ev := []byte(`{"version":1,"application_id":"1","type":1,"event":{"type":"ENTITLEMENT_CREATE","data":{}}}`)
	if st, body := e.signedPost(dp, "/hooks/d", "", "", ev); st != http.StatusNoContent || body != "" {
		t.Errorf("ignored Discord Webhook Event = %d %q; want 204", st, body)
	}
	it := []byte(`{"type":2,"token":"t","version":1,"data":{"name":"deploy"}}`)
	if st, body := e.signedPost(dp, "/hooks/d", "", "", it); st != http.StatusOK || !strings.Contains(body, `"ignored":"2"`) {
		t.Errorf("ignored Discord interaction = %d %q; want 200 {\"ignored\"}", st, body)
	}
	for _, h := range []string{"s", "d"} {
		evs, _, err := e.st.ListEvents(store.EventFilter{Hook: h})
		if err != nil || len(evs) != 0 {
			t.Errorf("hook %s: events stored = %d, %v; want none", h, len(evs), err)
		}
	}
}

// TestSlack_SSLCheck: Slack checks a slash command's certificate now and
// then with an unsigned form POST, ssl_check=1, and wants a 200. It is
// answered with an empty 200, stored nothing, and is not a refusal (it
// used to be a 401 and a WARN line each time). A signed request with
// ssl_check=0 or a command is verified as usual.
func TestSlack_SSLCheck(t *testing.T) {
	sp := mustProvider(t, signConfig("slack", "k1"))
	e := newEnv(t, &Hook{ID: "s", Path: "/hooks/s", Provider: sp, MaxBody: 1 << 20})
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	r := e.post(http.MethodPost, "/hooks/s", []byte("ssl_check=1&token=legacy-verification-token"), form)
	if r.status != http.StatusOK || r.body != nil {
		t.Errorf("ssl_check = %d %v; want an empty 200", r.status, r.body)
	}
	if n := len(e.l.Rejections()); n != 0 {
		t.Errorf("ssl_check counted as %d refusals; want none", n)
	}
	for _, b := range []string{"ssl_check=0&token=x", "ssl_check=1&command=%2Fdeploy&text=main"} {
		if r := e.post(http.MethodPost, "/hooks/s", []byte(b), form); r.status != http.StatusUnauthorized {
			t.Errorf("unsigned %q = %d; want 401", b, r.status)
		}
	}
	if r := e.post(http.MethodPost, "/hooks/s", []byte(`{"ssl_check":"1"}`), map[string]string{"Content-Type": "application/json"}); r.status != http.StatusUnauthorized {
		t.Errorf("unsigned JSON ssl_check = %d; want 401", r.status)
	}
	evs, _, err := e.st.ListEvents(store.EventFilter{Hook: "s"})
	if err != nil || len(evs) != 0 {
		t.Errorf("events stored = %d, %v; want none", len(evs), err)
	}
}
