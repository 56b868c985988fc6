package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/store"
)

func cmdBackup() *Command {
	c := &Command{
		Name:    "backup",
		Args:    "[-config FILE] FILE",
		Summary: "write a consistent copy of the database to FILE, while webhookd runs or not",
	}
	c.Run = func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, c)
		path := ConfigFlag(fs, env.Getenv)
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return &UsageError{Msg: "usage: webhookd backup [-config FILE] FILE"}
		}
		cfg, err := config.LoadClient(*path)
		if err != nil {
			return err
		}
		return runBackup(ctx, env, cfg, fs.Arg(0))
	}
	return c
}

// runBackup copies the database to out: from the running daemon's admin
// API (GET /api/backup), or, when no daemon answers, from the file opened
// read-only. The copy is written beside out, synced, checked with bbolt's
// consistency check, and only then renamed to out.
func runBackup(ctx context.Context, env *Env, cfg *config.Client, out string) error {
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp) // gone by then when all went well
	prog := newBackupProgress(env.Stderr)
	source, n, err := backupFromDaemon(ctx, cfg, f, prog)
	if errors.Is(err, errNoDaemon) {
		source = "the file (no daemon answered at " + cfg.AdminListen + ")"
		n, err = backupFromFile(cfg.StorePath, f)
	}
	prog.done()
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
	fmt.Fprintf(env.Stdout, "backed up %s (%s) from %s to %s; consistency check passed\n", cfg.StorePath, bytesHuman(n), source, out)
	return nil
}

// errNoDaemon is no daemon listening on the admin address.
var errNoDaemon = errors.New("no daemon")

// backupFromDaemon streams GET /api/backup into w.
func backupFromDaemon(ctx context.Context, cfg *config.Client, w io.Writer, prog *backupProgress) (string, int64, error) {
	if cfg.AdminListen == "off" {
		return "", 0, errNoDaemon
	}
	client, base := backupAdminClient(cfg.AdminListen)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/backup", nil)
	if err != nil {
		return "", 0, err
	}
	tok, err := cfg.AdminToken()
	if err != nil {
		return "", 0, err
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+string(tok.Value()))
	}
	resp, err := client.Do(req)
	if err != nil {
		if isNoDaemon(err) {
			return "", 0, errNoDaemon
		}
		return "", 0, fmt.Errorf("admin API at %s: %w", cfg.AdminListen, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", 0, fmt.Errorf("admin API at %s: %s: %s", cfg.AdminListen, resp.Status, strings.TrimSpace(string(b)))
	}
	prog.total = resp.ContentLength
	n, err := io.Copy(w, io.TeeReader(resp.Body, prog))
	if err != nil {
		return "", n, fmt.Errorf("reading the copy from the daemon: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", n, fmt.Errorf("the daemon sent %d of %d bytes", n, resp.ContentLength)
	}
	return "the running daemon", n, nil
}

// backupFromFile copies the database file, opened read-only (which fails
// if a daemon holds it).
func backupFromFile(path string, w io.Writer) (int64, error) {
	st, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Backup(w)
}

// backupAdminClient returns an HTTP client and base URL for the admin
// listener: a unix socket, or host:port with an unspecified host (":9001",
// "0.0.0.0:9001") reached on loopback.
func backupAdminClient(listen string) (*http.Client, string) {
	if p, ok := strings.CutPrefix(listen, "unix:"); ok {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", p)
		}}
		return &http.Client{Transport: tr}, "http://webhookd"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return http.DefaultClient, "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return &http.Client{Transport: &http.Transport{Proxy: nil}}, "http://" + net.JoinHostPort(host, port)
}

// isNoDaemon tells "nothing listens there" from other failures.
func isNoDaemon(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// backupProgress shows bytes received on a terminal.
type backupProgress struct {
	w     io.Writer // nil when not a terminal
	total int64
	n     int64
	last  time.Time
}

func newBackupProgress(stderr io.Writer) *backupProgress {
	p := &backupProgress{}
	if stderrIsTerminal(stderr) {
		p.w = stderr
	}
	return p
}

func (p *backupProgress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.w != nil && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		if p.total > 0 {
			fmt.Fprintf(p.w, "\rbackup: %s of %s (%d%%)", bytesHuman(p.n), bytesHuman(p.total), p.n*100/p.total)
		} else {
			fmt.Fprintf(p.w, "\rbackup: %s", bytesHuman(p.n))
		}
	}
	return len(b), nil
}

func (p *backupProgress) done() {
	if p.w != nil && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// stderrIsTerminal reports whether w is a terminal (a character device).
func stderrIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
