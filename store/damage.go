package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// A damaged record is one whose bytes cannot be decoded: bit rot on an SD
// card, a torn copy, a bug. It costs that record, never the service:
//
//   - retention prunes a damaged event once its id (which holds the time
//     it was stored) is past retention, with what of it can be found from
//     keys alone: its raw record, the jobs made with it (their ids follow
//     its own) and their runs and index entries. Its de-duplication entry
//     needs the delivery id from the record and stays: ingest takes an
//     entry whose event is gone for none;
//   - listings show a damaged event with its id, its time and the state
//     Damaged, and GetEvent returns ErrDamaged;
//   - a damaged job met in a queue is set aside: out of its queue, the
//     due index and the state index, so that it holds no place in a
//     window and is never started; its record stays until retention
//     prunes its event.
//
// Each is logged once per process, with what could not be cleaned.

// ErrDamaged is a record in the file that cannot be decoded. What it held
// is lost unless a backup has it.
var ErrDamaged = errors.New("the record is damaged and cannot be read")

// Damaged is the state ListEvents gives an event whose record cannot be
// read (ErrDamaged). It is no job's state.
const Damaged State = "damaged"

// damagedError is the error of a record of kind ("event", "job") and id
// that err could not decode.
func damagedError(kind, id string, err error) error {
	return fmt.Errorf("%s %s: %w (%v): restore the file from a backup to get it back (README, Backups)", kind, id, ErrDamaged, err)
}

// damageLog remembers the damaged records logged, so that each is logged
// once per process however often a listing meets it. It grows by damaged
// records only.
type damageLog struct {
	mu   sync.Mutex
	seen map[string]bool
	// staged are the notes of the transaction under way in the commit
	// loop, logged once it is committed (see Store.apply).
	staged []damageNote
}

type damageNote struct {
	key  string // kind and id, for seen
	msg  string
	args []any
}

// warnDamaged logs msg for the damaged record kind/id unless it was
// logged already.
func (s *Store) warnDamaged(kind, id, msg string, args ...any) {
	key := kind + "/" + id
	s.damage.mu.Lock()
	if s.damage.seen[key] {
		s.damage.mu.Unlock()
		return
	}
	if s.damage.seen == nil {
		s.damage.seen = map[string]bool{}
	}
	s.damage.seen[key] = true
	s.damage.mu.Unlock()
	s.log.Warn(msg, append([]any{kind + "_id", id}, args...)...)
}

// stageDamaged notes, in the commit loop, a damaged record that the
// transaction under way deals with: it is logged once that transaction
// is committed, and not at all if it is not.
func (s *Store) stageDamaged(kind, id, msg string, args ...any) {
	s.damage.mu.Lock()
	defer s.damage.mu.Unlock()
	// Keyed by msg too: a listing's warning about the same record says
	// nothing of what this one did to it.
	s.damage.staged = append(s.damage.staged, damageNote{kind + "/" + id + "/" + msg, msg, append([]any{kind + "_id", id}, args...)})
}

// damagedStaged takes the notes staged so far; logged says whether to log
// them (their transaction committed).
func (s *Store) damagedStaged(logged bool) {
	s.damage.mu.Lock()
	notes := s.damage.staged
	s.damage.staged = nil
	if logged && s.damage.seen == nil && len(notes) > 0 {
		s.damage.seen = map[string]bool{}
	}
	var out []damageNote
	for _, n := range notes {
		if logged && !s.damage.seen[n.key] {
			s.damage.seen[n.key] = true
			out = append(out, n)
		}
	}
	s.damage.mu.Unlock()
	for _, n := range out {
		s.log.Warn(n.msg, n.args...)
	}
}

// jobStateByKey finds a job's state in the state index, without its
// record.
func jobStateByKey(tx *bolt.Tx, id string) (State, bool) {
	c := tx.Bucket(bState).Cursor()
	for _, st := range States {
		k := stateKey(st, id)
		if got, _ := c.Seek(k); bytes.Equal(got, k) {
			return st, true
		}
	}
	return "", false
}

// dropStateByKey removes a job from the state index and its count,
// without its record.
func dropStateByKey(tx *bolt.Tx, id string) error {
	st, ok := jobStateByKey(tx, id)
	if !ok {
		return nil
	}
	if err := tx.Bucket(bState).Delete(stateKey(st, id)); err != nil {
		return err
	}
	return addCount(tx, st, -1)
}

// deleteRuns removes a job's runs.
func deleteRuns(tx *bolt.Tx, jobID string) error {
	runs := tx.Bucket(bRuns)
	c := runs.Cursor()
	prefix := []byte(jobID)
	var keys [][]byte
	for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+4 && hasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := runs.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// findDue finds a job's entry in the due index without its record: the
// index holds the jobs of the queues' windows only. It returns the
// entry's bucket and key, and the job's hook, action and queue key.
func findDue(tx *bolt.Tx, id string) (bucket, key []byte, hook, action, qkey string, ok bool) {
	root := tx.Bucket(bDue)
	_ = root.ForEachBucket(func(name []byte) error {
		if ok {
			return nil
		}
		c := root.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) > 8 && string(k[8:]) == id {
				h, a, found := bytes.Cut(name, []byte{0})
				if !found {
					return nil
				}
				bucket, key, hook, action, qkey, ok = bytes.Clone(name), bytes.Clone(k), string(h), string(a), string(v), true
				return nil
			}
		}
		return nil
	})
	return
}

// findQueued finds a job's queue entry without its record: in the due
// index first, else by a walk over every queue (a job running or waiting
// is not in the due index). It is for damaged jobs only.
func findQueued(tx *bolt.Tx, id string) (qk []byte, hook, action string, ok bool) {
	if _, _, h, a, key, found := findDue(tx, id); found {
		return append(queuePrefix(h, a, key), id...), h, a, true
	}
	c := tx.Bucket(bQueue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > idLen && string(k[len(k)-idLen:]) == id && k[len(k)-idLen-1] == 0 {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) == 3 {
				return bytes.Clone(k), string(parts[0]), string(parts[1]), true
			}
		}
	}
	return nil, "", "", false
}

// setAside takes a damaged job out of its queue (the entry qk, when
// known), the due index and the state index, so that it holds no place
// in its queue's window and is never started; its record and runs stay
// until retention prunes its event. The caller refills the window.
func (s *Store) setAside(tx *bolt.Tx, id string, qk []byte, hook, action string, cause error) error {
	if qk != nil {
		if err := delQueued(tx, qk); err != nil {
			return err
		}
	}
	if bucket, key, _, _, _, ok := findDue(tx, id); ok {
		if err := tx.Bucket(bDue).Bucket(bucket).Delete(key); err != nil {
			return err
		}
	}
	if err := dropStateByKey(tx, id); err != nil {
		return err
	}
	s.stageDamaged("job", id, "a job's record is damaged and cannot be read: it is set aside, out of its queue, and never runs; the jobs behind it go on. Restore a backup to get it back (README, Backups)",
		"hook", hook, "action", action, "err", cause)
	return nil
}
