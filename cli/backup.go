package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

func cmdBackup() *Command {
	c := &Command{
		Name:    "backup",
		Args:    "[-config FILE] [-admin ADDR] FILE",
		Summary: "write a consistent copy of the database to FILE, while webhookd runs or not",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		f := addAPIFlags(fs, env)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &UsageError{Msg: "usage: webhookd backup [-config FILE] [-admin ADDR] FILE"}
		}
		cfg, ac, err := f.dial()
		if err != nil {
			return err
		}
		return runBackup(ctx, env, cfg, ac, pos[0], *f.json)
	}
	return c
}

// BackupJSON is what `webhookd backup -json` prints.
type BackupJSON struct {
	Database string `json:"database"`
	File     string `json:"file"`
	Bytes    int64  `json:"bytes"`
	// From is "daemon" (the admin API) or "file" (no daemon answered).
	From string `json:"from"`
}

// runBackup copies the database to out: from the running daemon's admin
// API (GET /api/backup), or, when no daemon answers, from the file opened
// read-only. The copy is written beside out, synced, checked with bbolt's
// consistency check, and only then renamed to out.
func runBackup(ctx context.Context, env *Env, cfg *config.Client, ac *adminClient, out string, asJSON bool) error {
	if sameFile(out, cfg.StorePath) {
		// The copy would be renamed over the file the daemon writes to,
		// and every event after that would go to a file with no name.
		return fmt.Errorf("backup: %s is the database itself; write the copy to another file", out)
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		// Found now, not by the rename after the whole copy.
		return fmt.Errorf("backup: %s is a directory; name the copy's file, such as %s", out, copyIn(out, cfg.StorePath, "backup"))
	}
	// A new file of its own (0600, never one that was there: another's,
	// or a crashed backup's with another mode), renamed to out at the end.
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone by then when all went well
	prog := newByteProgress(env.Stderr, "backup")
	from, source := "daemon", "the running daemon"
	n, err := backupFromDaemon(ctx, ac, f, prog)
	if errors.Is(err, errNotRunning) {
		from, source = "file", fmt.Sprintf("the file (%v)", err)
		notRunning := err
		n, err = backupFromFile(ctx, cfg.StorePath, f, prog)
		switch {
		case err != nil && ctx.Err() != nil:
			// bbolt's copy keeps the error's text, not the error.
			err = fmt.Errorf("interrupted, %s not written: %w", out, ctx.Err())
		case err != nil:
			// Both: a daemon that holds the file may answer elsewhere
			// (an [admin] listen changed in the file, not yet restarted).
			err = fmt.Errorf("%v (the config's [admin] listen; -admin ADDR names another); reading the file instead: %w", notRunning, err)
		}
	}
	prog.finish()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := store.CheckFile(tmp); err != nil {
		return fmt.Errorf("backup: the copy fails its consistency check, %s not written: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		d.Sync()
		d.Close()
	}
	if asJSON {
		return printJSON(env.Stdout, BackupJSON{Database: cfg.StorePath, File: out, Bytes: n, From: from})
	}
	fmt.Fprintf(env.Stdout, "backed up %s (%s) from %s to %s; consistency check passed\n", cfg.StorePath, bytesHuman(n), source, out)
	return nil
}

// copyIn names a file in dir for a copy of the database at db, for an
// error to suggest: the database's own name, or, in the database's own
// directory (where that name is the database), the name with -what added
// (webhookd-backup.db).
func copyIn(dir, db, what string) string {
	base := filepath.Base(db)
	p := filepath.Join(dir, base)
	if sameFile(p, db) {
		ext := filepath.Ext(base)
		p = filepath.Join(dir, strings.TrimSuffix(base, ext)+"-"+what+ext)
	}
	return p
}

// sameFile reports whether paths a and b name the same existing file,
// through any links or path spellings.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// backupFromDaemon streams GET /api/backup into w.
func backupFromDaemon(ctx context.Context, ac *adminClient, w io.Writer, prog *progress) (int64, error) {
	res, err := ac.request(ctx, "GET", "/api/backup", nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	prog.setTotal(res.ContentLength)
	n, err := io.Copy(w, io.TeeReader(res.Body, prog))
	if err != nil {
		return n, fmt.Errorf("reading the copy from the daemon: %w", err)
	}
	if res.ContentLength >= 0 && n != res.ContentLength {
		return n, fmt.Errorf("the daemon sent %d of %d bytes", n, res.ContentLength)
	}
	return n, nil
}

// backupFromFile copies the database file, opened read-only (which fails
// if a daemon holds it). Ctrl-C (ctx) stops the copy: it holds the file's
// lock, which a daemon starting meanwhile waits for.
func backupFromFile(ctx context.Context, path string, w io.Writer, prog *progress) (int64, error) {
	st, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.BackupStream(io.MultiWriter(ctxWriter{ctx, w}, prog), prog.setTotal)
}

// ctxWriter writes to w until ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

// bytesHuman is n in B, KiB, MiB or GiB.
func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
