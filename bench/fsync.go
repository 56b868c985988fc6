package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// FsyncResult is the disk's sync rate as bbolt meets it: a 4 KiB page
// written in place, then fdatasync (what bbolt calls on Linux, twice per
// commit: once for the data pages, once for the meta page).
type FsyncResult struct {
	Syncs   int     `json:"syncs"`
	PerSec  float64 `json:"per_sec"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Commits float64 `json:"bbolt_commits_per_sec"` // PerSec / 2
	// BigMBps is the rate of 256 KiB writes (64 new pages, as a group
	// commit of a few dozen events writes) each followed by fdatasync, in
	// MB/s: what bounds a commit's size.
	BigMBps float64 `json:"big_mb_per_sec"`
	BigMS   float64 `json:"big_ms"` // median time of one 256 KiB write + fdatasync
}

func runFsync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fsync", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure (the store's)")
	dur := fs.Duration("d", 3*time.Second, "duration")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	res, err := measureFsync(ctx, *dir, *dur)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "fsync: %d syncs, %.0f/s (p50 %.3f ms, p99 %.3f ms): at most %.0f bbolt commits/s; 256 KiB + fdatasync: %.1f ms, %.0f MB/s\n",
		res.Syncs, res.PerSec, res.P50, res.P99, res.Commits, res.BigMS, res.BigMBps)
	return nil
}

func measureFsync(ctx context.Context, dir string, dur time.Duration) (*FsyncResult, error) {
	f, err := os.CreateTemp(dir, "webhookd-bench-fsync-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const page, pages = 4096, 256
	buf := make([]byte, page)
	for i := 0; i < pages; i++ {
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	var lats []time.Duration
	start := time.Now()
	for i := 0; time.Since(start) < dur && ctx.Err() == nil; i++ {
		buf[0], buf[1] = byte(i), byte(i>>8)
		t0 := time.Now()
		if _, err := syscall.Pwrite(fd, buf, int64(i%pages)*page); err != nil {
			return nil, fmt.Errorf("pwrite %s: %w", filepath.Base(f.Name()), err)
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return nil, fmt.Errorf("fdatasync: %w", err)
		}
		lats = append(lats, time.Since(t0))
	}
	elapsed := time.Since(start)
	slices.Sort(lats)
	res := &FsyncResult{Syncs: len(lats), PerSec: float64(len(lats)) / elapsed.Seconds(), P50: ms(pct(lats, 50)), P99: ms(pct(lats, 99))}
	res.Commits = res.PerSec / 2

	// 256 KiB at a time, appended to the file (a growing database writes
	// new pages), each followed by fdatasync.
	big := make([]byte, 256<<10)
	off := int64(pages) * page
	var bigLats []time.Duration
	start = time.Now()
	for i := 0; time.Since(start) < dur/2 && ctx.Err() == nil; i++ {
		big[0] = byte(i)
		t0 := time.Now()
		if _, err := syscall.Pwrite(fd, big, off); err != nil {
			return nil, fmt.Errorf("pwrite: %w", err)
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return nil, fmt.Errorf("fdatasync: %w", err)
		}
		bigLats = append(bigLats, time.Since(t0))
		off += int64(len(big))
	}
	if n := len(bigLats); n > 0 {
		res.BigMBps = float64(n*len(big)) / 1e6 / time.Since(start).Seconds()
		slices.Sort(bigLats)
		res.BigMS = ms(pct(bigLats, 50))
	}
	return res, nil
}
