package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	bolt "go.etcd.io/bbolt"
)

func hasPrefix(b, prefix []byte) bool { return bytes.HasPrefix(b, prefix) }

func stateKey(st State, jobID string) []byte {
	k := make([]byte, 0, len(st)+1+len(jobID))
	k = append(k, st...)
	k = append(k, 0)
	return append(k, jobID...)
}

// queuePrefix is hook \0 action \0 key \0.
func queuePrefix(hook, action, key string) []byte {
	k := make([]byte, 0, len(hook)+len(action)+len(key)+3+idLen)
	k = append(k, hook...)
	k = append(k, 0)
	k = append(k, action...)
	k = append(k, 0)
	k = append(k, key...)
	return append(k, 0)
}

func queueKey(j *Job) []byte { return append(queuePrefix(j.Hook, j.Action, j.Key), j.ID...) }

// dueBucketName names an action's due index.
func dueBucketName(hook, action string) []byte {
	return []byte(hook + "\x00" + action)
}

func dueKey(at time.Time, jobID string) []byte {
	k := make([]byte, 8, 8+len(jobID))
	binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
	return append(k, jobID...)
}

func dedupKey(hook, delivery string) []byte {
	return []byte(hook + "\x00" + delivery)
}

func runKey(jobID string, attempt int) []byte {
	k := make([]byte, 0, len(jobID)+4)
	k = append(k, jobID...)
	return binary.BigEndian.AppendUint32(k, uint32(attempt))
}

// firstAfter moves c to the first key after the key after, or to the first
// key when after is "": where a scan that stopped at after goes on.
func firstAfter(c *bolt.Cursor, after string) (k, v []byte) {
	if after == "" {
		return c.First()
	}
	k, v = c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	return k, v
}

func getJob(tx *bolt.Tx, id string) (*Job, error) {
	v := tx.Bucket(bJobs).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	j := new(Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, damagedError("job", id, err)
	}
	return j, nil
}

func putJob(tx *bolt.Tx, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return tx.Bucket(bJobs).Put([]byte(j.ID), b)
}

func getEvent(tx *bolt.Tx, id string) (*Event, error) {
	v := tx.Bucket(bEvents).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	e := new(Event)
	if err := json.Unmarshal(v, e); err != nil {
		return nil, damagedError("event", id, err)
	}
	return e, nil
}

func putEvent(tx *bolt.Tx, e *Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Bucket(bEvents).Put([]byte(e.ID), b)
}

func putRun(tx *bolt.Tx, jobID string, r *Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bRuns).Put(runKey(jobID, r.Attempt), b)
}

// setState moves j to st in the state index and the counters, and sets
// j.State and j.Updated. The caller puts j.
func setState(tx *bolt.Tx, j *Job, st State, now time.Time) error {
	idx := tx.Bucket(bState)
	if j.State != "" {
		if err := idx.Delete(stateKey(j.State, j.ID)); err != nil {
			return err
		}
		if err := addCount(tx, j.State, -1); err != nil {
			return err
		}
	}
	if err := idx.Put(stateKey(st, j.ID), nil); err != nil {
		return err
	}
	if err := addCount(tx, st, 1); err != nil {
		return err
	}
	j.State = st
	j.Updated = now
	return nil
}

func countKey(st State) []byte { return []byte("count/" + string(st)) }

// eventsCount is the counter of stored events (not a job state).
const eventsCount State = "_events"

func addCount(tx *bolt.Tx, st State, d int64) error {
	m := tx.Bucket(bMeta)
	k := countKey(st)
	var n int64
	if v := m.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += d
	if n < 0 {
		n = 0
	}
	return m.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func getCount(tx *bolt.Tx, st State) int64 {
	if v := tx.Bucket(bMeta).Get(countKey(st)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// setQueueFlag puts j in its queue with flag, or changes its flag, and
// keeps the count of the queue's running jobs (queueRuns).
func setQueueFlag(tx *bolt.Tx, j *Job, flag byte) error {
	k := queueKey(j)
	q := tx.Bucket(bQueue)
	was := q.Get(k)
	wasRunning := len(was) == 1 && was[0] == qRunning
	if err := q.Put(k, []byte{flag}); err != nil {
		return err
	}
	switch {
	case wasRunning && flag != qRunning:
		return addQueueRuns(tx, k[:len(k)-idLen], -1)
	case !wasRunning && flag == qRunning:
		return addQueueRuns(tx, k[:len(k)-idLen], 1)
	}
	return nil
}

// delQueued takes the entry k (a queueKey) out of its queue, and keeps the
// count of the queue's running jobs.
func delQueued(tx *bolt.Tx, k []byte) error {
	q := tx.Bucket(bQueue)
	was := q.Get(k)
	wasRunning := len(was) == 1 && was[0] == qRunning
	if err := q.Delete(k); err != nil {
		return err
	}
	if wasRunning {
		return addQueueRuns(tx, k[:len(k)-idLen], -1)
	}
	return nil
}

// queueRuns is how many jobs of the queue prefix (queuePrefix) are
// running, wherever they are in it: a window counts them all (see
// refill), and a reload that lowers the concurrency leaves runs under
// way past the window's end. The count is kept in the file (bRunning), by
// the transactions that start and finish jobs, so that a window is sized
// without a walk of its whole queue. It holds only while a process runs
// them: Open returns every running job to its queue and empties the
// bucket (resetQueueRuns), so a build that does not keep the counts, run
// on the file in between, leaves nothing wrong behind. A bucket of its
// own, not keys in meta: meta is written by every commit, and inline in
// the root page only while it is small; a count per queue running would
// soon give every ingest a page more to write.
func queueRuns(tx *bolt.Tx, prefix []byte) int {
	if b := tx.Bucket(bRunning); b != nil {
		if v := b.Get(prefix); len(v) == 8 {
			return int(binary.BigEndian.Uint64(v))
		}
	}
	return 0
}

func addQueueRuns(tx *bolt.Tx, prefix []byte, d int) error {
	b := tx.Bucket(bRunning)
	n := queueRuns(tx, prefix) + d
	if n <= 0 {
		return b.Delete(prefix)
	}
	return b.Put(bytes.Clone(prefix), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// resetQueueRuns empties the counts of running jobs: Open's, once no job
// runs.
func resetQueueRuns(tx *bolt.Tx) error {
	if tx.Bucket(bRunning).Stats().KeyN == 0 {
		return nil
	}
	if err := tx.DeleteBucket(bRunning); err != nil {
		return err
	}
	_, err := tx.CreateBucket(bRunning)
	return err
}

func addDue(tx *bolt.Tx, j *Job) error {
	b, err := tx.Bucket(bDue).CreateBucketIfNotExists(dueBucketName(j.Hook, j.Action))
	if err != nil {
		return err
	}
	return b.Put(dueKey(j.NextAt, j.ID), []byte(j.Key))
}

func delDue(tx *bolt.Tx, j *Job) error {
	b := tx.Bucket(bDue).Bucket(dueBucketName(j.Hook, j.Action))
	if b == nil {
		return nil
	}
	return b.Delete(dueKey(j.NextAt, j.ID))
}

// encodeRaw packs headers, query and body: a count of headers, each a name
// and its values (lengths as uvarints), then the query, then the body.
func encodeRaw(h http.Header, query string, body []byte) []byte {
	n := len(query) + len(body) + 16
	for k, vs := range h {
		n += len(k) + 4
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(h)))
	for k, vs := range h {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = appendString(b, query)
	return append(b, body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt raw record")

func decodeRaw(b []byte) (h http.Header, q string, body []byte, size int, err error) {
	return decodeRawHead(b, len(b))
}

// decodeRawHead is decodeRaw with at most the first limit bytes of the
// body; size is the whole body's. The counts in the record size nothing
// up front: a damaged one may say anything up to the record's length.
func decodeRawHead(b []byte, limit int) (h http.Header, q string, body []byte, size int, err error) {
	r := rawReader{b: b}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, "", nil, 0, errCorrupt
	}
	h = make(http.Header, min(n, 64))
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.str()
		m := r.uvarint()
		if m > uint64(len(b)) {
			return nil, "", nil, 0, errCorrupt
		}
		vs := make([]string, 0, min(m, 16))
		for j := uint64(0); j < m && r.err == nil; j++ {
			vs = append(vs, r.str())
		}
		h[k] = vs
	}
	q = r.str()
	if r.err != nil {
		return nil, "", nil, 0, r.err
	}
	body = append([]byte(nil), r.b[:min(limit, len(r.b))]...)
	return h, q, body, len(r.b), nil
}

type rawReader struct {
	b   []byte
	err error
}

func (r *rawReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rawReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
