package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often a File looks at its files by default.
const DefaultCheckInterval = time.Second

// File serves a certificate from a PEM certificate (chain) file and a PEM
// key file, and loads them again when either changes.
type File struct {
	certPath, keyPath string
	interval          time.Duration
	now               func() time.Time
	log               *slog.Logger

	cert    atomic.Pointer[tls.Certificate]
	checked atomic.Int64 // unix nanoseconds of the last look

	mu       sync.Mutex // held while looking at the files
	certStat fileStamp
	keyStat  fileStamp
	failed   string // the files' stamps and the error when a load last failed
}

// fileStamp tells whether a file changed: its size, modification time and
// inode (a renewal that replaces a symlink target changes the inode).
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}, nil
}

// FileOptions configure a File.
type FileOptions struct {
	// CheckInterval is how often the files are looked at (on a handshake);
	// zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a line when the certificate is reloaded or cannot
	// be; nil discards.
	Logger *slog.Logger
}

// LoadFile loads the pair and returns a File serving it.
func LoadFile(certPath, keyPath string, opts FileOptions) (*File, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &File{certPath: certPath, keyPath: keyPath, interval: opts.CheckInterval, now: opts.Now, log: opts.Logger}
	cs, ks, cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.certStat, f.keyStat = cs, ks
	f.cert.Store(cert)
	f.checked.Store(f.now().UnixNano())
	return f, nil
}

// load reads both files, stamping them before reading so that a change
// during the read is seen at the next look.
func (f *File) load() (fileStamp, fileStamp, *tls.Certificate, error) {
	cs, err := stamp(f.certPath)
	if err != nil {
		return cs, fileStamp{}, nil, fmt.Errorf("tls_cert: %w", err)
	}
	ks, err := stamp(f.keyPath)
	if err != nil {
		return cs, ks, nil, fmt.Errorf("tls_key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return cs, ks, nil, fmt.Errorf("load %s and %s: %w", f.certPath, f.keyPath, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cs, ks, nil, fmt.Errorf("parse %s: %w", f.certPath, err)
	}
	cert.Leaf = leaf
	return cs, ks, &cert, nil
}

// Certificate returns the certificate being served.
func (f *File) Certificate() *tls.Certificate { return f.cert.Load() }

// GetCertificate is the tls.Config hook: the current certificate, after a
// look at the files if CheckInterval has passed.
func (f *File) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	// Also when the last look is in the future: a clock stepped back must
	// not stop the looks until it catches up.
	if d := f.now().UnixNano() - f.checked.Load(); d >= int64(f.interval) || d < 0 {
		f.Reload()
	}
	return f.cert.Load(), nil
}

// Reload looks at the files now and loads them if they changed. It
// reports whether a new certificate is being served. A pair that does not
// load is logged (once per change) and the old certificate stays.
func (f *File) Reload() bool {
	if !f.mu.TryLock() {
		return false // another handshake is looking
	}
	defer f.mu.Unlock()
	f.checked.Store(f.now().UnixNano())
	cs, err1 := stamp(f.certPath)
	ks, err2 := stamp(f.keyPath)
	if err1 == nil && err2 == nil && cs == f.certStat && ks == f.keyStat {
		f.failed = "" // back as they were: a failure again is news
		return false
	}
	cs, ks, cert, err := f.load()
	if err != nil {
		// Once per state of the files: a file gone (whose stamp is
		// empty) or a bad key is logged too, not only a changed cert.
		if failed := fmt.Sprint(cs, ks, err); failed != f.failed {
			f.log.Error("TLS certificate files changed but do not load; the previous certificate is still served", "err", err)
			f.failed = failed
		}
		return false
	}
	f.certStat, f.keyStat, f.failed = cs, ks, ""
	f.cert.Store(cert)
	f.log.Info("TLS certificate reloaded", "file", f.certPath, "subject", cert.Leaf.Subject.String(),
		"names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true
}
