package store

import (
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func pauseKey(hook, action string) []byte { return []byte("paused/" + hook + "/" + action) }

// SetPaused pauses or resumes hook's action. A paused action's jobs stay
// queued and do not start until it is resumed. Pauses survive restarts.
func (s *Store) SetPaused(ctx context.Context, hook, action string, paused bool) error {
	return s.update(ctx, true, func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if paused {
			return m.Put(pauseKey(hook, action), []byte{1})
		}
		return m.Delete(pauseKey(hook, action))
	})
}

// isPaused reports whether hook's action is paused. Every commit that
// starts a job reads it, so a start is ordered against a pause by the
// commit loop: once SetPaused has returned, no job of the action starts.
func isPaused(tx *bolt.Tx, hook, action string) bool {
	return tx.Bucket(bMeta).Get(pauseKey(hook, action)) != nil
}

// Paused lists the paused actions as "hook/action".
func (s *Store) Paused() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m == nil {
			return nil
		}
		c := m.Cursor()
		prefix := []byte("paused/")
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, strings.TrimPrefix(string(k), "paused/"))
		}
		return nil
	})
	return out, err
}

// QueuedActions lists, as hook/action, the actions that have jobs queued
// to run (pending, or failed and waiting for a retry), whether the config
// still has them or not: a queue's first jobs are in its action's due
// index, one bucket per action. It reads one key per action that ever had
// a due job (empty buckets are dropped by the prune).
func (s *Store) QueuedActions() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bDue)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(name []byte) error {
			if k, _ := root.Bucket(name).Cursor().First(); k != nil {
				hook, action, _ := strings.Cut(string(name), "\x00")
				out = append(out, hook+"/"+action)
			}
			return nil
		})
	})
	return out, err
}
