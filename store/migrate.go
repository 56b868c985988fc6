package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// metaVersion is the meta key of the file's schema version.
var metaVersion = []byte("version")

// migrations upgrade a file of an older schema: each takes it from the
// version it is listed under to the next. They run in init's transaction,
// with every other change of a start, so that a crash or a failed commit
// leaves the file as it was and the next start does it all again. What
// one has to tell (a record it left as it was) it returns, and init logs
// it once the transaction is committed.
var migrations = map[string]func(tx *bolt.Tx) ([]upgradeNote, error){
	"1": migrate1to2,
}

// upgradeNote is a warning of an upgrade, logged after its commit.
type upgradeNote struct {
	msg  string
	args []any
}

// readable reports whether a file of schema v can be read as it is (by a
// store opened read-only, which upgrades nothing): the current schema and
// those a migration upgrades.
func readable(v string) bool {
	return v == schemaVersion || migrations[v] != nil
}

// migrate upgrades the file in tx from schema from to schemaVersion, and
// returns the warnings to log once that is committed.
func migrate(tx *bolt.Tx, from string) ([]upgradeNote, error) {
	var notes []upgradeNote
	v := from
	for v != schemaVersion {
		step := migrations[v]
		if step == nil {
			return nil, schemaError(from)
		}
		n, err := step(tx)
		if err != nil {
			return nil, fmt.Errorf("upgrade the database from schema %s: %w", v, err)
		}
		notes = append(notes, n...)
		v = nextVersion(v)
	}
	return notes, tx.Bucket(bMeta).Put(metaVersion, []byte(schemaVersion))
}

func nextVersion(v string) string {
	var n int
	fmt.Sscan(v, &n)
	return fmt.Sprint(n + 1)
}

// schemaError is the refusal of a file of schema v, which this webhookd
// cannot read: a newer webhookd's.
func schemaError(v string) error {
	return fmt.Errorf("database schema %s; this webhookd reads %s: it was written by a newer webhookd. Run that version, or restore the backup taken before the upgrade (README, Upgrades)", v, schemaVersion)
}

// migrate1to2 upgrades a file of schema 1. Builds wrote schema 1 from the
// first one on, while what they wrote changed, and each build since reads
// what the builds before it wrote; what a file still needs from them is
// done here, once:
//
//   - Builds before 3fb3adb (2026-11-23) kept no count of events, and
//     Stats said 0 (or fewer than there are, counted from the upgrade) for
//     good. A file without the count has it counted. (One that a later
//     build went on writing has a count that misses the events before it:
//     it is left so, rather than read every event of every file at its
//     upgrade — seconds per 100,000 events on a cold cache.)
//   - Builds before de8b589 (2026-11-23) kept a delivery id as it came, in
//     the de-duplication index and in its event; since, one longer than
//     256 bytes or not UTF-8 is kept as cleanKey makes it, and looked up
//     so: a redelivery of such an id was taken for a new event, and
//     retention left the index entry of one not UTF-8 behind for good
//     (the event's JSON had changed its id). Both are made what the
//     builds since would have kept. An event that cannot be decoded is
//     left as it is, with a warning: its index entry, which makes a
//     redelivery a duplicate, is cleaned all the same (it needs only the
//     id); the event's own copy of the id only tells retention which
//     entry to delete with it, and retention cannot read that event either.
//
// Schema 2 itself tells the builds that read schema 1 to refuse a file
// they would misread: those before 3ff48a1 (2026-11-23) read the
// de-duplication index as complete, but since then the entries of the
// last events are in memory only until they are merged (dedup.go), and a
// file left by a crash, or a copy taken while webhookd ran, lacks them:
// such a build took redeliveries of those events as new ones, and ran
// their actions again.
func migrate1to2(tx *bolt.Tx) ([]upgradeNote, error) {
	if m := tx.Bucket(bMeta); m.Get(countKey(eventsCount)) == nil {
		n := tx.Bucket(bEvents).Stats().KeyN
		if err := m.Put(countKey(eventsCount), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
	}
	notes, err := cleanDeliveries(tx)
	if err != nil {
		return nil, fmt.Errorf("clean delivery ids: %w", err)
	}
	return notes, nil
}

// cleanDeliveries gives every de-duplication entry, and its event, the
// delivery id cleanKey makes of the one it holds. It returns a warning for
// each event it could not decode, whose entry it cleaned all the same.
func cleanDeliveries(tx *bolt.Tx) ([]upgradeNote, error) {
	type entry struct {
		key             []byte
		hook, clean, id string
	}
	var fix []entry
	d := tx.Bucket(bDedup)
	c := d.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		// hook \0 delivery: a hook id has no NUL.
		hook, delivery, ok := bytes.Cut(k, []byte{0})
		if !ok {
			continue
		}
		if clean := cleanKey(string(delivery)); clean != string(delivery) {
			fix = append(fix, entry{bytes.Clone(k), string(hook), clean, string(v)})
		}
	}
	var notes []upgradeNote
	for _, e := range fix {
		if err := d.Delete(e.key); err != nil {
			return nil, err
		}
		if k := dedupKey(e.hook, e.clean); d.Get(k) == nil {
			if err := d.Put(k, []byte(e.id)); err != nil {
				return nil, err
			}
		}
		ev, err := getEvent(tx, e.id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			notes = append(notes, upgradeNote{
				msg: "the upgrade left an event it cannot decode as it was: its delivery id is cleaned in the de-duplication index all the same, so a redelivery of it is still a duplicate; " +
					"but the record is damaged: listings show it as damaged, and retention prunes it in its turn. Restore a backup taken before the damage to get it back (README, Backups); webhookd runs on",
				args: []any{"event_id", e.id, "hook", e.hook, "delivery", e.clean, "err", err},
			})
			continue
		}
		if ev.Hook == e.hook && ev.Delivery != e.clean {
			ev.Delivery = e.clean
			if err := putEvent(tx, ev); err != nil {
				return nil, err
			}
		}
	}
	return notes, nil
}
