package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	stdjson "encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// ingestAs stores an event of hook with a body of the given content type,
// as the listener would.
func (e *env) ingestAs(hook, contentType string, body []byte) string {
	e.t.Helper()
	res, err := e.st.Ingest(context.Background(), &store.NewEvent{
		Hook: hook, Type: "push", Received: time.Now(), Remote: "192.0.2.7", ContentType: contentType,
		Header: http.Header{"Content-Type": {contentType}}, Body: body,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.ID
}

// servePage serves GET path from the admin server itself (no loopback
// client, whose buffers would count) and returns the answer and the bytes
// the daemon allocated to make it.
func (e *env) servePage(path string) (*httptest.ResponseRecorder, uint64) {
	e.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = "127.0.0.1"
	w := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.srv.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.Code != 200 {
		e.t.Fatalf("GET %s = %d\n%.2000s", path, w.Code, w.Body)
	}
	return w, after.TotalAlloc - before.TotalAlloc
}

// TestDashboard_EventLargePayload: the event page of an event of a few
// MiB (max_body goes up to 256 MiB) put all of its payload into the page,
// indented and escaped: 13 MB of HTML for 4 MiB of JSON, and for 36 MiB
// 115 MB, 7.5 s and 460 MB more memory; a body that is not text was
// wrapped into lines by copying all of it once a line, 300 s for 4 MiB.
// The page shows the first 64 KiB, says how much that is of how much, and
// where all of it is; what it costs does not grow with the body.
func TestDashboard_EventLargePayload(t *testing.T) {
	e := newEnv(t, "")
	json := largePayload(4 << 20)
	bin := make([]byte, 4<<20)
	rand.Read(bin)
	bin[0] = 0xff // not UTF-8 from the first byte
	text := []byte(strings.Repeat("a line of text, long enough to be a line of a log\n", 4<<20/50))
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		want              string // in the shown payload
		how               string // how the note says it is shown
	}{
		{"json", "application/json", json, `"name": "item 0",`, "shown as it came (keys in the sender's order), indented;"},
		{"form", "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(json))), `"name": "item 0",`, "shown as it came (keys in the sender's order), indented;"},
		{"binary", "application/octet-stream", bin, "Not text", "shown;"},
		{"text", "text/plain", text, "a line of text", "shown;"},
		// Within 64 KiB, parsed as the API shows it; indented, past it.
		{"json_indented_past", "application/json", largePayload(60 << 10), `"name": "item 0",`, "shown, indented;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.ingestAs("site", tc.contentType, tc.body)
			w, alloc := e.servePage("/events/" + id)
			page := w.Body.String()
			t.Logf("a body of %d bytes: a page of %d bytes, %d bytes allocated", len(tc.body), len(page), alloc)
			for _, want := range []string{tc.want, "Only its first 64 KiB are " + tc.how} {
				if !strings.Contains(html.UnescapeString(page), want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			// 64 KiB of text, escaped: a quote is 5 bytes (&#34;).
			if len(page) > 256<<10 {
				t.Errorf("the page of an event of %d bytes is %d bytes; want at most 256 KiB", len(tc.body), len(page))
			}
			if alloc > 4<<20 {
				t.Errorf("the page of an event of %d bytes allocated %d bytes; want at most 4 MiB", len(tc.body), alloc)
			}
			for _, want := range []string{
				"the body is " + humanBytes(int64(len(tc.body))) + ".",
				"webhookd show " + id + " -json",
				`href="/api/events/` + id + `"`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}
}

// indentHead, given all of a JSON text, indents it as json.Indent does;
// given its start, it stops at its limit, after a whole line.
func TestIndentHead_AgreesWithIndent(t *testing.T) {
	for _, raw := range []string{
		`{}`, `[]`, `1`, `"s"`, `{"a":1}`, `[1,2,[3,{"b":[ ]}]]`, ` { "a" : { } , "b" : [ 1 , 2 ] } `,
		`{"a":{"b":{"c":[1,2,3]}},"d":{}}`, ` [ {"a\"":"x,y:[]{}\\"} , [ ] ] `, `[[[[[[[[1]]]]]]],[[[[2]]]]]`,
	} {
		var want bytes.Buffer
		if err := stdjson.Indent(&want, []byte(strings.TrimSpace(raw)), "", "  "); err != nil {
			t.Fatal(err)
		}
		if got, whole, ok := indentHead([]byte(raw), 1<<10); string(got) != want.String() || !whole || !ok {
			t.Errorf("indentHead(%s) = %s, %v, %v; want %s, true, true", raw, got, whole, ok, want.String())
		}
	}
	big := largePayload(1 << 20)
	var all bytes.Buffer
	stdjson.Indent(&all, big, "", "  ")
	got, whole, ok := indentHead(big, 1000)
	if len(got) > 1000 || whole || !ok || !bytes.HasPrefix(all.Bytes(), append(got, '\n')) {
		t.Errorf("indentHead(1 MiB, 1000) = %d bytes ending %q, %v, %v; want at most 1000, whole lines of json.Indent's", len(got), got[max(0, len(got)-40):], whole, ok)
	}
	if _, _, ok := indentHead([]byte(strings.Repeat("[", 100000)), pageShow); ok {
		t.Errorf("indentHead of a text nested 100,000 deep: ok; want it shown as it came")
	}
}

// eventWithRuns stores an event of hook with jobs for actions a0..aN-1,
// replayed replays times, each job run runs times, each run leaving the
// whole output it keeps (64 KiB). The actions are not in the config, so
// the scheduler holds them: the test runs them through the store.
func (e *env) eventWithRuns(actions, replays, runs int) string {
	e.t.Helper()
	ctx := context.Background()
	var plan []store.NewJob
	for i := range actions {
		plan = append(plan, store.NewJob{Action: "a" + string(rune('0'+i)), Concurrency: 1})
	}
	res, err := e.st.Ingest(ctx, &store.NewEvent{
		Hook: "many", Type: "push", Received: time.Now(), ContentType: "application/json",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`), Jobs: plan,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for range replays {
		if _, err := e.st.AddJobs(ctx, res.ID, plan); err != nil {
			e.t.Fatal(err)
		}
	}
	ev, err := e.st.GetEvent(res.ID, false)
	if err != nil {
		e.t.Fatal(err)
	}
	out := bytes.Repeat([]byte("output <of> a run & more\n"), store.MaxOutput/25+1)[:store.MaxOutput]
	exit := 1
	for _, id := range ev.JobIDs {
		for k := range runs {
			if _, err := e.st.Start(ctx, id); err != nil {
				e.t.Fatal(err)
			}
			st := store.Failed
			if k == runs-1 {
				st = store.Dead
			}
			now := time.Now()
			if _, err := e.st.Finish(ctx, id, store.Outcome{State: st, NextAt: now, Concurrency: 1, Reason: "exit status 1",
				Run: store.Run{Started: now, Finished: now, Result: store.RunFailed, ExitCode: &exit, Output: out, Truncated: true}}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return res.ID
}

// TestDashboard_EventManyRuns: the event page showed every run of every
// job with all of its output: 88 jobs (8 actions, replayed 10 times) of 5
// runs were 31 MB of HTML, and an action may retry 1000 times, each run
// keeping 64 KiB. The page shows the newest jobs and runs, and output up
// to a bound, each run's last lines, and says what it left out.
func TestDashboard_EventManyRuns(t *testing.T) {
	e := newEnv(t, "")
	id := e.eventWithRuns(4, 6, 8) // 28 jobs, 224 runs, 14 MiB of output
	w, alloc := e.servePage("/events/" + id)
	page := w.Body.String()
	t.Logf("28 jobs of 8 runs: a page of %d bytes, %d bytes allocated", len(page), alloc)
	if len(page) > 1<<20 {
		t.Errorf("the page is %d bytes; want at most 1 MiB", len(page))
	}
	if alloc > 32<<20 {
		t.Errorf("the page allocated %d bytes; want at most 32 MiB", alloc)
	}
	for _, want := range []string{
		"8 earlier jobs are not shown",
		"2 earlier runs are not shown",
		"webhookd show " + id,
		"output &lt;of&gt; a run &amp; more", // the newest run's output
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A run whose output the page leaves out is closed: open, it would be
	// a note and no output.
	for _, run := range strings.Split(page, `<details class="run"`)[1:] {
		run, _, _ = strings.Cut(run, "</details>")
		if strings.HasPrefix(run, " open>") && !strings.Contains(run, `<pre class="output">`) {
			t.Errorf("a run is open without its output:\n%s", run)
			break
		}
	}
	// Every action's newest job (the one that decides) is on the page.
	ev := e.event(id)
	for _, j := range latestJobs(ev.Jobs) {
		if !strings.Contains(page, `id="job-`+j.ID+`"`) {
			t.Errorf("the page lacks %s's newest job %s", j.Action, j.ID)
		}
	}
}

// TestDashboard_HostileText: what a sender wrote (an event type, a
// header, a payload value that a skipped job's reason quotes, a run's
// output) reached the pages as it was, with the characters that reorder
// text: a U+202E in a ref made the verdict read payload.ref is
// "refs/heads/main" for a ref that is not, and control characters were
// invisible. They are written out, as webhookd show writes control
// characters.
func TestDashboard_HostileText(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	const rlo, lri, esc = "\u202e", "\u2066", "\x1b"
	res, err := e.st.Ingest(ctx, &store.NewEvent{
		Hook: "site", Type: "push" + rlo + "nim", Delivery: "d" + lri + "1", Received: time.Now(), ContentType: "application/json",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Note": {"a" + rlo + "b"}},
		Body:   []byte(`{"ref":"` + rlo + `niam/sdaeh/sfer","c":"a` + esc + `[31mred"}`),
		Jobs:   []store.NewJob{{Action: "deploy", Concurrency: 1, Skip: `when is false: payload.ref is "` + rlo + `niam/sdaeh/sfer"`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Ingest(ctx, &store.NewEvent{Hook: "site", Type: strings.Repeat("x", 60000), Received: time.Now(),
		Header: http.Header{}, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/events/" + res.ID} {
		w, _ := e.servePage(path)
		page := w.Body.String()
		for _, never := range []string{rlo, lri, esc} {
			if strings.Contains(page, never) {
				t.Errorf("GET %s shows %+q as it is", path, never)
			}
		}
		if strings.Contains(page, strings.Repeat("x", 100)) {
			t.Errorf("GET %s shows an event type of 60,000 characters whole", path)
		}
		if !strings.Contains(page, `push\u202enim`) {
			t.Errorf("GET %s lacks the event type written out (push\\u202enim)", path)
		}
	}
	w, _ := e.servePage("/events/" + res.ID)
	for _, want := range []string{`payload.ref is &#34;\u202eniam/sdaeh/sfer&#34;`, `a\u202eb`, `d\u20661`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("the event page lacks %q", want)
		}
	}
}

// TestDashboard_EventsRefreshByCost: while something runs, the events
// page reloaded itself every 5 s, whatever its listing cost: a filter that
// few events match looks at up to 200,000 of them (1.6 s here, 4 s on a
// Pi), so an open tab kept a core busy for as long as a backlog ran. The
// page waits ten times as long as its listing took, 5 s at least.
func TestDashboard_EventsRefreshByCost(t *testing.T) {
	e := newEnv(t, "", exec("site", "slow", "", "sleep 5"))
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Running)
	refresh := regexp.MustCompile(`http-equiv="refresh" content="(\d+)"`)
	for _, tc := range []struct {
		tick time.Duration // how far the clock moves at each reading
		want string
	}{{0, "5"}, {100 * time.Millisecond, "5"}, {2 * time.Second, "20"}, {1500 * time.Millisecond, "15"}} {
		var clock atomic.Int64
		clock.Store(time.Now().UnixNano())
		e.srv.now = func() time.Time { return time.Unix(0, clock.Add(int64(tc.tick))) }
		w, _ := e.servePage("/?state=dead")
		m := refresh.FindStringSubmatch(w.Body.String())
		if m == nil || m[1] != tc.want {
			t.Errorf("a listing taking %v: refresh %v; want every %s s", tc.tick, m, tc.want)
		}
	}
}

func TestTailAt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nbb\nccc\n", 100, "a\nbb\nccc\n"},
		{"a\nbb\nccc\n", 5, "ccc\n"},
		{"a\nbb\nccc\n", 7, "bb\nccc\n"},
		{"a\nbb\nccc\n", 0, ""},
		{"abcdef", 3, "def"},
		{"ééé", 3, "é"},
		// Output that is no UTF-8 (bytes that start no character): cut
		// where n says, not walked on to nothing.
		{"\x80\x81\x82\x83\x84\x85\x86\x87", 3, "\x85\x86\x87"},
	} {
		if got := string(tailAt([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("tailAt(%q, %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestDashboard_EventHeadEndsMidCharacter: the event page reads a large
// body's first pageRead bytes, which may end inside a character. Where
// the head is mostly space between JSON tokens, its indented text fits
// the page whole, the cut character too, which the page showed as the
// escape of a byte that is no UTF-8 (\xc3) at the payload's end.
func TestDashboard_EventHeadEndsMidCharacter(t *testing.T) {
	e := newEnv(t, "")
	// The first byte of the 1001st é is the head's last.
	body := "[" + strings.Repeat(" ", pageRead-1-2-2*1000) + `"` + strings.Repeat("é", 100000) + `"]`
	if body[pageRead-1] != "é"[0] {
		t.Fatalf("the head ends at %q, not at an é's first byte", body[pageRead-2:pageRead])
	}
	id := e.ingestAs("site", "application/json", []byte(body))
	w, _ := e.servePage("/events/" + id)
	page := html.UnescapeString(w.Body.String())
	i := strings.Index(page, `<pre class="payload">`)
	j := strings.Index(page[i:], "</pre>")
	if i < 0 || j < 0 {
		t.Fatalf("no payload on the page:\n%.3000s", page)
	}
	shown := page[i+len(`<pre class="payload">`) : i+j]
	if strings.Contains(shown, `\x`) || !strings.HasSuffix(shown, strings.Repeat("é", 1000)) {
		t.Errorf("the payload shown ends %q; want it to end with the last whole é", shown[max(0, len(shown)-40):])
	}
	if !strings.Contains(page, "Only its first 64 KiB are") {
		t.Errorf("the page does not say the payload is cut")
	}
}
