package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// IDAt returns the smallest id an event received at t can have: events
// with ids at or above it arrived at t or later. With EventFilter's Since
// and Before it selects events by time.
func IDAt(t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return encodeID(uint64(ms), 0)
}

// ScanEvents lists events oldest first, for work that walks many of them
// in arrival order (a bulk replay). It starts after the event id after (or
// at f.Since when after is ""), stops before f.Before, and keeps the
// events that match f.Hook and f.State. It returns at most f.Limit events
// (default 50) and looks at a bounded number per call, listChunk a read
// transaction (walkEvents); next is the cursor to pass as after for the
// following page ("" at the end).
func (s *Store) ScanEvents(f EventFilter, after string) (out []*EventView, next string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	limit := s.scanLimit()
	scanned := 0
	last := after // the last key looked at
	err = s.walkEvents(false, func(c *bolt.Cursor, walked string) ([]byte, []byte) {
		switch {
		case walked != "":
			return firstAfter(c, walked)
		case after != "":
			return firstAfter(c, after)
		case f.Since != "":
			return c.Seek([]byte(f.Since))
		}
		return c.First()
	}, func(tx *bolt.Tx, k, v []byte) (bool, error) {
		if f.Before != "" && string(k) >= f.Before {
			return true, nil
		}
		if len(out) == f.Limit || scanned == limit {
			// More may follow: the caller goes on after the last one
			// looked at.
			next = last
			return true, nil
		}
		scanned++
		last = string(k)
		// A damaged event is left out (logged once): there is nothing
		// of it to replay.
		view, err := s.match(f, tx, k, v, false)
		if view != nil {
			out = append(out, view)
		}
		return false, err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// EventsEnd returns an id above every event stored now. As
// EventFilter.Before it bounds a walk to the events already stored: ids
// are given out in the commit loop, in order, so every event stored later
// has a greater id.
func (s *Store) EventsEnd() (string, error) {
	end := encodeID(0, 0) // no events: nothing is below it
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().Last()
		ms, seq, ok := decodeID(string(k))
		if !ok {
			return nil
		}
		if seq++; seq > 0xFFFFFFFF {
			ms, seq = ms+1, 0
		}
		end = encodeID(ms, seq)
		return nil
	})
	return end, err
}
