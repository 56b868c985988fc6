package store

import (
	"errors"
	"math"
)

// What bbolt can hold on a 32-bit platform (GOARCH=arm on a Raspberry
// Pi's 32-bit OS, 386) is less than on a 64-bit one; the store keeps
// within it. On 64-bit platforms the only limit of its own is a
// delivery's size (MaxBody).

// is32bit reports a platform whose int is 32 bits.
const is32bit = math.MaxInt == math.MaxInt32

// maxRecord32 is the largest raw record (headers, query and body) the store
// writes on a 32-bit platform. bbolt reads a leaf page's keys and values
// through a window of 256 MiB from each element (its MaxAllocSize there),
// and a leaf page holds up to four elements however large they are (it
// never splits a node of four or fewer). Four records of more than a
// quarter of that make a page whose last key and value lie past the
// window: bbolt panics (a slice out of range) at the first read that
// reaches it, in the commit loop or the scheduler, and again at every
// start. A single record of 256 MiB panics as it is written.
const maxRecord32 = 64<<20 - 64<<10

// maxBody32 is MaxBody on a 32-bit platform: maxRecord32 less room for the
// headers (at most 64 KiB, the listener's limit) and the query.
const maxBody32 = 63 << 20

// maxRecord64 and maxBody64 are the same on a 64-bit platform, where
// bbolt's window is 2 GiB: a quarter of it, and well within that for the
// body, which is also read whole into memory, once per delivery in
// flight. No sender of webhooks sends one near it (GitHub's are at most
// 25 MB).
const (
	maxRecord64 = 512<<20 - 64<<10
	maxBody64   = 256 << 20
)

// maxData32 is MaxData on a 32-bit platform. bbolt there maps at most
// 2 GiB of file (its MaxMapSize) and grows the file in an int, 16 MiB at a
// time past its data: as the data neared 2 GiB, each commit that needed
// more room failed, with "file resize error: truncate ...: invalid
// argument" or "mmap too large", ingest and the runs of jobs alike. 1.5
// GiB of data in use leaves a quarter of that for the pages freed and not
// yet reused (the file keeps its size) and for the writes that go on while
// new events are refused: runs, retention.
const maxData32 = 3 << 29

// ErrStoreFull is returned by Ingest while the data in use (LiveSize) is
// at MaxData: new events are refused until retention (or max_size) makes
// room.
var ErrStoreFull = errors.New("the database holds as much data as it can on this 32-bit platform: new events are refused until retention or [store] max_size deletes old ones")

// MaxData is the most data in use (LiveSize) the database holds on this
// platform, or 0 where it sets no limit of its own (64-bit platforms):
// 1.5 GiB on a 32-bit one.
func MaxData() int64 {
	if is32bit {
		return maxData32
	}
	return 0
}

// ErrTooLarge is returned by Ingest for a delivery larger than the store
// can hold on this platform (see MaxBody).
var ErrTooLarge = errors.New("the delivery is larger than the database can hold")

// MaxBody is the largest delivery body the store takes on this platform:
// 256 MiB on a 64-bit one, 63 MiB on a 32-bit one.
func MaxBody() int64 {
	if is32bit {
		return maxBody32
	}
	return maxBody64
}

// maxRecord is the largest raw record Ingest writes.
func maxRecord() int {
	if is32bit {
		return maxRecord32
	}
	return maxRecord64
}

// maxDataLimit is MaxData, or the test's limit.
func (o *Options) maxDataLimit() int64 {
	if o.maxData != 0 {
		return max(o.maxData, 0)
	}
	return MaxData()
}
