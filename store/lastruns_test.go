package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// LastRuns reads a job's newest runs, and counts the ones before them,
// without reading another job's.
func TestStore_LastRuns(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	res, err := s.Ingest(ctx, &NewEvent{Hook: "h", Received: time.Now(), Body: []byte(`{}`),
		Jobs: []NewJob{{Action: "a", Concurrency: 1}, {Action: "b", Concurrency: 1}, {Action: "c", Concurrency: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.GetEvent(res.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ev.JobIDs[0], ev.JobIDs[1], ev.JobIDs[2]
	for _, tc := range []struct {
		id   string
		runs int
	}{{a, 7}, {c, 2}} {
		for k := range tc.runs {
			if _, err := s.Start(ctx, tc.id); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if _, err := s.Finish(ctx, tc.id, Outcome{State: Failed, NextAt: now, Concurrency: 1,
				Run: Run{Started: now, Finished: now, Result: RunFailed, Output: []byte(fmt.Sprint("run ", k+1))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		id          string
		n           int
		want        string
		wantEarlier int
	}{
		{a, 3, "[5 6 7]", 4},
		{a, 7, "[1 2 3 4 5 6 7]", 0},
		{a, 100, "[1 2 3 4 5 6 7]", 0},
		{b, 3, "[]", 0},
		{c, 1, "[2]", 1},
	} {
		runs, earlier, err := s.LastRuns(tc.id, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, r := range runs {
			if string(r.Output) != fmt.Sprint("run ", r.Attempt) {
				t.Errorf("LastRuns(%s, %d): run %d has output %q", tc.id, tc.n, r.Attempt, r.Output)
			}
			got = append(got, r.Attempt)
		}
		if fmt.Sprint(got) != tc.want && !(tc.want == "[]" && got == nil) || earlier != tc.wantEarlier {
			t.Errorf("LastRuns(%s, %d) = %v, %d earlier; want %s, %d", tc.id, tc.n, got, earlier, tc.want, tc.wantEarlier)
		}
	}
}
