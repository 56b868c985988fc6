package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ClockBack brings the due times of queued jobs back in line after the
// wall clock was stepped back (an NTP correction of a clock that ran
// ahead, a Raspberry Pi that booted with a wrong date). A job queued while
// the clock was ahead was made due at that clock's "now", and would wait
// out the whole step before it ran.
//
// Every queued job due after now is looked at:
//   - a pending job (never failed, or interrupted) is meant to run at
//     once: it is made due now;
//   - a failed job waits out its backoff: with back known (the step seen
//     by a running daemon), its due time moves back by it, not before now;
//     with back zero (a start, which cannot tell), only a due time later
//     than latest (after any backoff the daemon gives) is taken for the
//     clock's doing and made now.
//
// It returns how many jobs it moved. Only jobs due after now are read, so
// with a sane clock it costs a look at the end of each action's due index.
func (s *Store) ClockBack(ctx context.Context, now time.Time, back time.Duration, latest time.Time) (int, error) {
	moved := 0
	err := s.update(ctx, true, func(tx *bolt.Tx) error {
		moved = 0
		type entry struct {
			bucket []byte
			key    []byte
		}
		var later []entry
		root := tx.Bucket(bDue)
		from := dueKey(now.Add(time.Nanosecond), "")
		err := root.ForEachBucket(func(name []byte) error {
			c := root.Bucket(name).Cursor()
			for k, _ := c.Seek(from); k != nil; k, _ = c.Next() {
				if len(k) > 8 {
					later = append(later, entry{bucket: bytes.Clone(name), key: bytes.Clone(k)})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range later {
			j, err := getJob(tx, string(e.key[8:]))
			if err != nil {
				return err
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(e.key)))
			if !at.Equal(j.NextAt) {
				continue // not this job's entry; Check reports it
			}
			to := at
			switch {
			case j.State == Pending:
				to = now
			case j.State != Failed:
			case back > 0:
				to = at.Add(-back)
			case at.After(latest):
				to = now
			}
			if to.Before(now) {
				to = now
			}
			if to.Equal(at) {
				continue
			}
			if err := delDue(tx, j); err != nil {
				return err
			}
			j.NextAt = to
			if err := addDue(tx, j); err != nil {
				return err
			}
			if err := putJob(tx, j); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	return moved, err
}
