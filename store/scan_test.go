package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestIDAt(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id := IDAt(t0)
	if !ValidID(id) || !IDTime(id).Equal(t0) {
		t.Fatalf("IDAt(%v) = %q (time %v)", t0, id, IDTime(id))
	}
	if !(IDAt(t0.Add(-time.Millisecond)) < id && id < IDAt(t0.Add(time.Millisecond))) {
		t.Error("IDAt does not sort as time does")
	}
	if IDAt(time.Unix(-5, 0)) != encodeID(0, 0) {
		t.Error("IDAt before 1970 is not the smallest id")
	}
}

func TestStore_ScanEvents(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, _ := openTest(t, Options{Now: clock})
	ctx := context.Background()

	// Ten events a minute apart: even ones of hook a with a queued job,
	// odd ones of hook b with nothing to run (skipped).
	var ids, times []string
	for i := range 10 {
		now = time.Date(2026, 3, 1, 12, i, 0, 0, time.UTC)
		ne := newEvent("b", fmt.Sprint("d", i), NewJob{Action: "x", Skip: "when is false"})
		if i%2 == 0 {
			ne = newEvent("a", fmt.Sprint("d", i), job("deploy"))
		}
		ne.Received = now
		res, err := s.Ingest(ctx, ne)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		times = append(times, now.Format("15:04"))
	}

	scanAll := func(f EventFilter) []string {
		t.Helper()
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("ScanEvents does not end")
			}
			evs, next, err := s.ScanEvents(f, after)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > max(f.Limit, 1) {
				t.Fatalf("page of %d events; limit %d", len(evs), f.Limit)
			}
			for _, e := range evs {
				got = append(got, e.ID)
			}
			if next == "" {
				return got
			}
			after = next
		}
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}

	tests := []struct {
		name string
		f    EventFilter
		want []string
	}{
		{"all, pages of 3", EventFilter{Limit: 3}, ids},
		{"hook a", EventFilter{Hook: "a", Limit: 2}, pick(0, 2, 4, 6, 8)},
		{"skipped", EventFilter{State: Skipped, Limit: 2}, pick(1, 3, 5, 7, 9)},
		{"pending of hook a", EventFilter{Hook: "a", State: Pending, Limit: 1}, pick(0, 2, 4, 6, 8)},
		{"dead", EventFilter{State: Dead}, nil},
		{"since 12:04", EventFilter{Since: IDAt(time.Date(2026, 3, 1, 12, 4, 0, 0, time.UTC)), Limit: 2}, pick(4, 5, 6, 7, 8, 9)},
		{"12:03 to before 12:06", EventFilter{
			Since:  IDAt(time.Date(2026, 3, 1, 12, 3, 0, 0, time.UTC)),
			Before: IDAt(time.Date(2026, 3, 1, 12, 6, 0, 0, time.UTC)), Limit: 2,
		}, pick(3, 4, 5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanAll(tc.f)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ScanEvents(%+v) = %v; want %v (times %v)", tc.f, got, tc.want, times)
			}
		})
	}
}
