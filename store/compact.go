package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CompactResult describes a compaction.
type CompactResult struct {
	Before, After int64 // file sizes in bytes
}

// Compact copies the database at src into a new file holding only its
// live data (bbolt's Compact), checks the copy, and then puts it in place
// of dst: dst == src compacts in place. It holds src's lock throughout, so
// it fails while webhookd runs, and no daemon can start on src until the
// compacted file is in place. progress, when set, is called now and then
// with the bytes written so far and an estimate of the total.
func Compact(ctx context.Context, src, dst string, progress func(done, total int64)) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(src)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.Before = fi.Size()
	sdb, err := openBolt(src, &bolt.Options{Timeout: 50 * time.Millisecond, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return res, fmt.Errorf("compact %s: %w: stop webhookd first, or let the offline command end", src, ErrLocked)
		}
		return res, fmt.Errorf("compact: open %s: %w", src, err)
	}
	defer sdb.Close()
	var total int64
	err = sdb.View(func(tx *bolt.Tx) error {
		total = tx.Size() - int64(sdb.Stats().FreePageN)*int64(tx.DB().Info().PageSize)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}

	tmp := dst + ".compact"
	os.Remove(tmp)
	ddb, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("compact: create %s: %w", tmp, err)
	}
	fail := func(err error) (CompactResult, error) {
		ddb.Close()
		os.Remove(tmp)
		return res, err
	}
	if err := copyOwner(fi, tmp); err != nil {
		return fail(fmt.Errorf("compact: %w", err))
	}

	// bbolt's Compact has no progress of its own: watch the copy grow.
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if progress == nil {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			progress(written(ddb), total)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err = compactCtx(ctx, ddb, sdb)
	close(stop)
	<-watched
	if err != nil {
		return fail(fmt.Errorf("compact: %w", err))
	}
	// Write the free page list once, as Close does for the store, so that
	// the first start on the compacted file need not walk it.
	ddb.NoFreelistSync = false
	if err := ddb.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return fail(fmt.Errorf("compact: %w", err))
	}
	if err := ddb.Sync(); err != nil {
		return fail(fmt.Errorf("compact: sync %s: %w", tmp, err))
	}
	if progress != nil {
		n := written(ddb)
		progress(n, n)
	}
	if err := ddb.Close(); err != nil {
		return fail(fmt.Errorf("compact: close %s: %w", tmp, err))
	}
	if err := checkFile(tmp); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("compact: the copy fails its check, %s is untouched: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("compact: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	if fi, err := os.Stat(dst); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// compactTxSize is how much the compaction copies per transaction: small
// enough that progress (read from the copy's committed size) moves, and
// that a Raspberry Pi's memory holds a transaction.
const compactTxSize = 4 << 20

// compactCtx runs bbolt's Compact; once ctx ends, it reports that when
// the copy is done (bbolt's Compact cannot be stopped half-way), so that
// the copy is thrown away.
func compactCtx(ctx context.Context, dst, src *bolt.DB) error {
	done := make(chan error, 1)
	go func() { done <- bolt.Compact(dst, src, compactTxSize) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// bbolt cannot be interrupted mid-copy: wait for it, then report
		// the cancellation so the copy is thrown away.
		<-done
		return ctx.Err()
	}
}

func written(db *bolt.DB) int64 {
	var n int64
	db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// CheckFile opens the database at path read-only and runs bbolt's
// consistency check on it.
func CheckFile(path string) error { return checkFile(path) }

func checkFile(path string) error {
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: 50 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		if tx.Bucket(bMeta) == nil {
			return errors.New("not a webhookd database (no meta bucket)")
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
