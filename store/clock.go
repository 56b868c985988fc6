package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ClockBack brings the due times of queued jobs back in line after the
// wall clock was stepped back (an NTP correction of a clock that ran
// ahead, a Raspberry Pi that booted with a wrong date). A job queued while
// the clock was ahead was made due by that clock, and would wait out the
// whole step before it ran.
//
// Every queued job due after now (the store's clock, as the commit is
// written) is looked at:
//   - a pending job (never failed, or interrupted) is meant to run at
//     once: it is made due now;
//   - a failed job whose failure was recorded after now (so by the clock
//     that ran ahead) has its due time moved back by the step, back, when
//     the caller knows it (a running daemon that saw it), so that it waits
//     its backoff from when it failed; at a start, which cannot know it,
//     by how far ahead that record is, so that it waits its backoff from
//     now. One recorded by the clock as it is, after the step, keeps its
//     due time.
//
// (A job that waits behind its queue's window is not in the due index; it
// is made due at once when it joins the window, see refill.) It returns
// how many jobs it moved. Only jobs due after now are read, so with a
// sane clock it costs a look at the end of each action's due index.
func (s *Store) ClockBack(ctx context.Context, back time.Duration) (int, error) {
	moved := 0
	err := s.update(ctx, true, func(tx *bolt.Tx) error {
		moved = 0
		// Now as this commit is written: a job queued just before it
		// is not taken for one the clock put ahead.
		now := s.now()
		var later [][]byte
		root := tx.Bucket(bDue)
		from := dueKey(now.Add(time.Nanosecond), "")
		err := root.ForEachBucket(func(name []byte) error {
			c := root.Bucket(name).Cursor()
			for k, _ := c.Seek(from); k != nil; k, _ = c.Next() {
				if len(k) > 8 {
					later = append(later, bytes.Clone(k))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range later {
			j, err := getJob(tx, string(k[8:]))
			if errors.Is(err, ErrDamaged) {
				continue // set aside when the scheduler meets it
			}
			if err != nil {
				return err
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
			if !at.Equal(j.NextAt) {
				continue // not this job's entry; Check reports it
			}
			to := at
			switch {
			case j.State == Pending:
				to = now
			case j.State == Failed && j.Updated.After(now) && back > 0:
				to = at.Add(-back)
			case j.State == Failed && j.Updated.After(now):
				to = at.Add(-j.Updated.Sub(now))
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
			// A failed job's reason names its retry's time
			// (RetryReason): it names the new one.
			j.Reason = retimeReason(j.Reason, at, to)
			// Recorded now, by the clock as it is: a second look does
			// not move it again.
			j.Updated = now
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

// RetryReason is a failed job's reason: what failed, and that retry n of
// of is due at at. ClockBack moves the time in it with the job.
func RetryReason(failure string, n, of int, at time.Time) string {
	return fmt.Sprintf("%s; retry %d of %d%s", failure, n, of, retryAt(at))
}

func retryAt(at time.Time) string { return " at " + at.UTC().Format(time.RFC3339) }

// retimeReason returns reason with the time from, at which RetryReason
// ended it, changed to to; any other reason as it is.
func retimeReason(reason string, from, to time.Time) string {
	if rest, ok := strings.CutSuffix(reason, retryAt(from)); ok {
		return rest + retryAt(to)
	}
	return reason
}
