package store

import (
	"context"
	"fmt"
	"testing"
)

// TestStore_ListEventsShortReads: a listing looked at up to 200,000
// events in one read transaction, seconds on a Pi for a filter that few
// match, and while a read transaction is open bbolt cannot grow its map of
// the file for a commit, which then waits (ingest with it), nor reuse the
// pages freed since it began. A listing reads a few hundred events a
// transaction, and lists the same events wherever the transactions end.
func TestStore_ListEventsShortReads(t *testing.T) {
	ctx := context.Background()
	const total, chunk = 40, 4
	short, _ := openTest(t, Options{listChunk: chunk})
	whole, _ := openTest(t, Options{listChunk: 1000})
	for i := range total {
		hook, job := "common", NewJob{Action: "x", Skip: "no"}
		if i%7 == 3 {
			hook = "rare"
		}
		if i%5 == 0 {
			job = NewJob{Action: "x", Concurrency: 1}
		}
		for _, s := range []*Store{short, whole} {
			if _, err := s.Ingest(ctx, newEvent(hook, fmt.Sprint(i), job)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []EventFilter{
		{}, {Limit: 500}, {Hook: "rare"}, {Hook: "rare", Limit: 2}, {State: Pending}, {Hook: "none"},
		{State: Skipped, Limit: 7}, {Hook: "common", Limit: 9},
	} {
		// The ids differ between the stores: compare what was listed.
		list := func(s *Store) (string, int) {
			var got []string
			before := ""
			for range total + 1 {
				g := f
				g.Before = before
				page, next, err := s.ListEvents(g)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range page {
					got = append(got, v.Hook+"/"+v.Delivery+"/"+string(v.State))
				}
				got = append(got, "|")
				if next == "" {
					break
				}
				before = next
			}
			return fmt.Sprint(got), 0
		}
		txs := short.db.Stats().TxN
		got, _ := list(short)
		txs = short.db.Stats().TxN - txs
		want, _ := list(whole)
		if got != want {
			t.Errorf("ListEvents(%+v), %d events a transaction: %s; with all in one: %s", f, chunk, got, want)
		}
		if min := total/chunk - 1; f.Hook == "none" && txs < min {
			t.Errorf("ListEvents(%+v) of %d events took %d read transactions; want at least %d (%d events each)", f, total, txs, min, chunk)
		}
	}
}

// TestStore_ScanEventsShortReads: a bulk replay's walk (ScanEvents, oldest
// first) reads a few events a read transaction, as ListEvents does, and
// finds what one transaction over all of them finds: a page of up to
// 200,000 events in one transaction held bbolt's remap and the pages freed
// since for as long as it took (seconds on a Pi).
func TestStore_ScanEventsShortReads(t *testing.T) {
	ctx := context.Background()
	const total, chunk = 40, 4
	short, _ := openTest(t, Options{listChunk: chunk})
	whole, _ := openTest(t, Options{listChunk: 1000})
	for i := range total {
		hook, job := "common", NewJob{Action: "x", Skip: "no"}
		if i%7 == 3 {
			hook = "rare"
		}
		if i%5 == 0 {
			job = NewJob{Action: "x", Concurrency: 1}
		}
		for _, s := range []*Store{short, whole} {
			if _, err := s.Ingest(ctx, newEvent(hook, fmt.Sprint(i), job)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []EventFilter{
		{}, {Limit: 500}, {Hook: "rare"}, {Hook: "rare", Limit: 2}, {State: Pending}, {Hook: "none"},
		{State: Skipped, Limit: 7}, {Hook: "common", Limit: 9},
	} {
		// The ids differ between the stores: compare what was found.
		scan := func(s *Store) string {
			var got []string
			after := ""
			for range total + 1 {
				page, next, err := s.ScanEvents(f, after)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range page {
					got = append(got, v.Hook+"/"+v.Delivery+"/"+string(v.State))
				}
				got = append(got, "|")
				if next == "" {
					break
				}
				after = next
			}
			return fmt.Sprint(got)
		}
		txs := short.db.Stats().TxN
		got := scan(short)
		txs = short.db.Stats().TxN - txs
		if want := scan(whole); got != want {
			t.Errorf("ScanEvents(%+v), %d events a transaction: %s; with all in one: %s", f, chunk, got, want)
		}
		if min := total/chunk - 1; f.Hook == "none" && txs < min {
			t.Errorf("ScanEvents(%+v) of %d events took %d read transactions; want at least %d (%d events each)", f, total, txs, min, chunk)
		}
	}
}
