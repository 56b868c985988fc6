package actions

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestHTTP_BodyAsReceived: without body, the request carries the body as
// received, byte for byte, with the content type it came with (here a
// form, which is neither JSON nor the text/plain of a body of the
// action's).
func TestHTTP_BodyAsReceived(t *testing.T) {
	type request struct{ body, contentType string }
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{string(b), r.Header.Get("Content-Type")}
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 5 * time.Second, Concurrency: 1}
	h := newHarness(t, a)
	body := "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D&x=+1"
	h.waitState(h.ingestFull("h", "push", "", "application/x-www-form-urlencoded", body), store.Succeeded)
	r := <-got
	if r.body != body || r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("the receiver got %q as %q; want %q as application/x-www-form-urlencoded", r.body, r.contentType, body)
	}
}

// TestHTTP_NetworkErrorRetried: a request that cannot reach its receiver
// (connection refused) is retried, as a 5xx is, until its retries are
// spent.
func TestHTTP_NetworkErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl("http://" + addr + "/in"), Method: "POST",
		Timeout: 5 * time.Second, Concurrency: 1, Retries: 2, Backoff: 10 * time.Millisecond}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if j.State != store.Dead || len(runs) != 3 {
		t.Fatalf("job %s (%s) after %d runs; want dead after 3 (the first and 2 retries)", j.State, j.Reason, len(runs))
	}
	for i, r := range runs {
		if r.Result != store.RunFailed || !strings.Contains(r.Error, "refused") {
			t.Errorf("run %d: %s (%q); want failed, connection refused", i+1, r.Result, r.Error)
		}
	}
}

// TestHTTP_TimeoutWaitingForTheAnswer: timeout bounds the whole request,
// also the wait for an answer's headers that never come: the run fails
// at the timeout, saying so.
func TestHTTP_TimeoutWaitingForTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // no answer
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 300 * time.Millisecond, Concurrency: 1}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if j.State != store.Dead || len(runs) != 1 || runs[0].Error != "timed out after 300ms" || runs[0].Status != 0 {
		t.Fatalf("job %s (%s), runs %+v; want one run, failed: timed out after 300ms", j.State, j.Reason, runs)
	}
	if d := runs[0].Finished.Sub(runs[0].Started); d > 5*time.Second {
		t.Errorf("the run took %v; want it ended at its 300ms timeout", d)
	}
}

// TestScheduler_AtMost32Runs: over all actions, at most 32 runs go on at
// once by default (MaxRuns), whatever the actions' concurrency; the
// others start as runs end.
func TestScheduler_AtMost32Runs(t *testing.T) {
	rcv := newHeldReceiver(t)
	var acts []*Action
	for _, name := range []string{"relay-a", "relay-b"} {
		acts = append(acts, &Action{Hook: "h", Name: name, URL: mustTmpl(rcv.url + "/" + name), Method: "POST", Timeout: 30 * time.Second, Concurrency: 100})
	}
	h := newHarness(t, acts...) // MaxRuns not set: the default
	var evs []string
	for range 20 {
		evs = append(evs, h.ingest("h", `{}`)) // 40 jobs
	}
	peakNow := rcv.peak
	for deadline := time.Now().Add(20 * time.Second); peakNow() < 32; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests at once within 20s; want 32", peakNow())
		}
	}
	// Were the cap not kept, more would come now, with 8 jobs due.
	time.Sleep(300 * time.Millisecond)
	if p := peakNow(); p != 32 {
		t.Errorf("%d requests at once; want at most 32", p)
	}
	rcv.release()
	for _, ev := range evs {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			js := h.jobs(ev)
			if js[0].State == store.Succeeded && js[1].State == store.Succeeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s's jobs are %s and %s; want both succeeded", ev, js[0].State, js[1].State)
			}
		}
	}
	if p := peakNow(); p != 32 {
		t.Errorf("%d requests at once; want 32", p)
	}
}
