package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The de-duplication index (hook \0 delivery → event id) is written
// behind: an event's entry first lives in memory, and goes into the dedup
// bucket later, with many others, in key order. Delivery ids are random
// (GitHub's are UUIDs), so an entry written with its event lands on a leaf
// of its own, and a commit of 30 events rewrote 30 leaves of the index —
// the largest share of ingest's page writes. Written in key order, a run
// of entries shares leaves.
//
// Nothing is lost in a crash: the entries not yet in the bucket are those
// of events after the merge mark (meta "dedup_upto"), and Open reads them
// back from the events themselves. The mark moves only when every entry of
// the events up to it is in the bucket.

// dedupMergeAt is how many entries wait in memory before a merge starts.
const dedupMergeAt = 16384

// dedupIdleFlush is how long the commit loop waits without an op before
// it writes every entry still in memory to the bucket.
const dedupIdleFlush = 2 * time.Second

// dedupMergeMin is the least a commit merges while a merge is under way;
// it merges twice its own events if that is more, so that merging keeps
// ahead of ingest.
const dedupMergeMin = 64

// metaDedupUpto is the meta key of the merge mark.
var metaDedupUpto = []byte("dedup_upto")

// dedupEntry is one entry of the index.
type dedupEntry struct{ key, id string }

// dedupCache is the part of the index still in memory. It belongs to the
// commit loop: only ops, apply and the loop touch it.
type dedupCache struct {
	mergeAt, mergeMin int
	live              map[string]string // committed entries not yet in the bucket
	staged            map[string]string // the transaction's changes; "" deletes
	// pending lists what went into live since the last snapshot (some
	// since deleted or replaced: merge skips those), so that taking a
	// snapshot does not walk the map.
	pending []dedupEntry
	// A snapshot being sorted off the commit loop, then the merge under
	// way: the snapshot in key order, how far it is merged (committed,
	// and in the open transaction), and the mark it sets when it is done.
	sorting           chan []dedupEntry
	merging           []dedupEntry
	merged, tentative int
	upto              string
}

func newDedupCache(mergeAt, mergeMin int) *dedupCache {
	if mergeAt <= 0 {
		mergeAt = dedupMergeAt
	}
	if mergeMin <= 0 {
		mergeMin = dedupMergeMin
	}
	return &dedupCache{mergeAt: mergeAt, mergeMin: mergeMin, live: map[string]string{}, staged: map[string]string{}}
}

// unmerged reports whether any entry is still in memory only.
func (d *dedupCache) unmerged() bool {
	return len(d.live) > 0 || d.merging != nil || d.sorting != nil
}

// get returns the event id key points to in memory, and whether memory
// knows (a deleted entry is known: look no further in memory).
func (d *dedupCache) get(key string) (id string, known bool) {
	if id, ok := d.staged[key]; ok {
		return id, true
	}
	id, ok := d.live[key]
	return id, ok
}

// lookup returns the event id stored for key, in memory or in the bucket,
// or "".
func (d *dedupCache) lookup(tx *bolt.Tx, key []byte) string {
	if id, known := d.get(string(key)); known && id != "" {
		return id
	}
	if v := tx.Bucket(bDedup).Get(key); v != nil {
		return string(v)
	}
	return ""
}

// add records key → id in the open transaction.
func (d *dedupCache) add(key []byte, id string) { d.staged[string(key)] = id }

// remove deletes key if it points to id, in memory (staged) and in the
// bucket, as a pruned event's entry goes.
func (d *dedupCache) remove(tx *bolt.Tx, key []byte, id string) error {
	if cur, _ := d.get(string(key)); cur == id {
		d.staged[string(key)] = ""
	}
	b := tx.Bucket(bDedup)
	if string(b.Get(key)) == id {
		return b.Delete(key)
	}
	return nil
}

// begin prepares the cache for a transaction; tx is that transaction,
// before any op ran in it. It starts a merge when enough entries wait, or
// with all, when there are any; when none wait, it moves the mark.
func (d *dedupCache) begin(tx *bolt.Tx, all bool) error {
	clear(d.staged)
	d.tentative = d.merged
	if d.sorting != nil {
		if all {
			d.startMerge(<-d.sorting)
		} else {
			select {
			case snap := <-d.sorting:
				d.startMerge(snap)
			default:
			}
		}
	}
	// Enough entries wait, or pending has grown as long: pruning takes
	// entries out of live but not out of pending, and under steady
	// traffic with a retention shorter than mergeAt events live stays
	// below it while pending would grow without end.
	if d.merging == nil && d.sorting == nil && len(d.pending) == 0 {
		// Nothing waits to be merged: every committed event's entry
		// is in the bucket (or it has none), and the mark moves to the
		// newest event. Else events without a delivery id, which have
		// no entry to merge, would never move it, and every start
		// would read them back.
		return d.markNewest(tx)
	}
	if d.merging != nil || d.sorting != nil ||
		!all && len(d.live) < d.mergeAt && len(d.pending) < d.mergeAt {
		return nil
	}
	// Every committed event has its entry in live (so in pending) or in
	// the bucket; once this snapshot is in the bucket, every event up to
	// the newest is.
	k, _ := tx.Bucket(bEvents).Cursor().Last()
	d.upto = string(k)
	snap := d.pending
	d.pending = nil
	if all {
		sortEntries(snap)
		d.startMerge(snap)
		return nil
	}
	// Sorting 16,384 keys takes a few ms: not in the loop, where every
	// request waiting for a commit would wait for it too.
	d.sorting = make(chan []dedupEntry, 1)
	go func(ch chan<- []dedupEntry) {
		sortEntries(snap)
		ch <- snap
	}(d.sorting)
	return nil
}

// markNewest moves the merge mark to the newest event, when it is not
// there.
func (d *dedupCache) markNewest(tx *bolt.Tx) error {
	k, _ := tx.Bucket(bEvents).Cursor().Last()
	m := tx.Bucket(bMeta)
	if k == nil || string(m.Get(metaDedupUpto)) == string(k) {
		return nil
	}
	if err := m.Put(metaDedupUpto, bytes.Clone(k)); err != nil {
		return fmt.Errorf("move the dedup merge mark: %w", err)
	}
	return nil
}

func (d *dedupCache) startMerge(snap []dedupEntry) {
	d.sorting = nil
	d.merging = snap
	d.merged, d.tentative = 0, 0
}

func sortEntries(es []dedupEntry) {
	slices.SortFunc(es, func(a, b dedupEntry) int { return strings.Compare(a.key, b.key) })
}

// merge writes the next n entries of the merge under way into the bucket,
// in the open transaction (all of them if n < 0), and the mark when that
// finishes it.
func (d *dedupCache) merge(tx *bolt.Tx, n int) error {
	if d.merging == nil {
		return nil
	}
	b := tx.Bucket(bDedup)
	end := len(d.merging)
	if n >= 0 {
		end = min(end, d.tentative+n)
	}
	for _, e := range d.merging[d.tentative:end] {
		// An entry deleted (its event pruned) or replaced since the
		// snapshot is not written.
		if cur, _ := d.get(e.key); cur != e.id {
			continue
		}
		if err := b.Put([]byte(e.key), []byte(e.id)); err != nil {
			return fmt.Errorf("merge dedup entries: %w", err)
		}
	}
	d.tentative = end
	if end == len(d.merging) {
		if err := tx.Bucket(bMeta).Put(metaDedupUpto, []byte(d.upto)); err != nil {
			return fmt.Errorf("merge dedup entries: %w", err)
		}
	}
	return nil
}

// committed applies the transaction's changes after its commit.
func (d *dedupCache) committed() {
	for k, id := range d.staged {
		if id == "" {
			delete(d.live, k)
		} else {
			d.live[k] = id
			d.pending = append(d.pending, dedupEntry{k, id})
		}
	}
	clear(d.staged)
	if d.merging == nil {
		return
	}
	// What was merged is in the bucket now: memory lets it go.
	for _, e := range d.merging[d.merged:d.tentative] {
		if d.live[e.key] == e.id {
			delete(d.live, e.key)
		}
	}
	d.merged = d.tentative
	if d.merged == len(d.merging) {
		d.merging, d.merged, d.tentative, d.upto = nil, 0, 0, ""
		if len(d.live) == 0 {
			// A map keeps the buckets it grew to after its entries are
			// deleted: one that a merge emptied is let go.
			d.live = map[string]string{}
		}
	}
}

// rolledBack forgets the transaction's changes.
func (d *dedupCache) rolledBack() {
	clear(d.staged)
	d.tentative = d.merged
}

// loadDedup reads back the entries of the events after the merge mark,
// in init's transaction. A store without a mark (made before the index was
// written behind) has every entry in the bucket: the mark is set to its
// newest event.
func loadDedup(tx *bolt.Tx, d *dedupCache) error {
	m := tx.Bucket(bMeta)
	upto := m.Get(metaDedupUpto)
	c := tx.Bucket(bEvents).Cursor()
	if upto == nil {
		k, _ := c.Last()
		return m.Put(metaDedupUpto, append([]byte{}, k...))
	}
	var k, v []byte
	if len(upto) == 0 {
		k, v = c.First()
	} else if k, v = c.Seek(upto); k != nil && string(k) == string(upto) {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		var ev struct{ Hook, Delivery string }
		if err := json.Unmarshal(v, &ev); err != nil {
			// Not skipped: a redelivery of it would be taken for a new
			// event, and its actions run again.
			return fmt.Errorf("event %s cannot be decoded (%w), and its delivery id, not yet in the de-duplication index (the file was left by a crash, or copied while webhookd ran), cannot be read back: a redelivery of it would run its actions again. The file is damaged: restore it from a backup (README, Backups)", k, err)
		}
		if ev.Delivery != "" {
			e := dedupEntry{string(dedupKey(ev.Hook, ev.Delivery)), string(k)}
			d.live[e.key] = e.id
			d.pending = append(d.pending, e)
		}
	}
	return nil
}
