package store

import (
	"bytes"
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
// still has them or not. It walks the queues' index an action at a time,
// up to each one's first queued job: past its running jobs (no more than
// its concurrency), seeking over the rest.
func (s *Store) QueuedActions() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bQueue)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; {
			hook, rest, _ := bytes.Cut(k, []byte{0})
			action, _, _ := bytes.Cut(rest, []byte{0})
			prefix := queuePrefix(string(hook), string(action), "")
			prefix = prefix[:len(prefix)-1] // hook \0 action \0
			for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(v) == 1 && v[0] != qRunning {
					out = append(out, string(hook)+"/"+string(action))
					break
				}
			}
			// The next action: past every key of this one's.
			next := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
			k, v = c.Seek(next)
		}
		return nil
	})
	return out, err
}
