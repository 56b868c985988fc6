package admin

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// DefaultBackupStall is how long a backup's client may take no data before
// the copy is cut off.
const DefaultBackupStall = 30 * time.Second

// deadlineWriter gives each write the stall time to go through.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.stall))
	return d.w.Write(p)
}

// backupHeaders are the headers of GET and HEAD /api/backup, for a copy
// of size bytes.
func backupHeaders(h http.Header, size int64) {
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", `attachment; filename="webhookd-backup.db"`)
	h.Set("Cache-Control", "no-store")
}

// apiBackup is GET /api/backup: a consistent copy of the database, from one
// read transaction, streamed as it is written (`webhookd backup` saves it
// and checks it). A copy cut off by an error ends the connection without
// its last bytes, so the client sees a short body, never a short file that
// looks whole. HEAD answers the same headers, with the size a copy made
// now would have, and makes no copy: the server would throw it away after
// reading the whole file for it.
func (s *Server) apiBackup(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		size, err := s.opts.Store.BackupSize()
		if err != nil {
			writeError(w, err)
			return
		}
		backupHeaders(w.Header(), size)
		w.WriteHeader(http.StatusOK)
		return
	}
	// A large database on a slow link takes as long as it takes, as long
	// as the client keeps reading: bbolt cannot grow the file while the
	// copy's read transaction is open, so deliveries would wait behind a
	// client that stopped.
	stall := s.opts.BackupStall
	if stall <= 0 {
		stall = DefaultBackupStall
	}
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), stall: stall}
	start := time.Now()
	started := false
	n, err := s.opts.Store.BackupStream(dw, func(size int64) {
		started = true
		backupHeaders(w.Header(), size)
		w.WriteHeader(http.StatusOK)
	})
	if err != nil {
		s.log.Error("backup failed", "bytes", n, "remote", r.RemoteAddr, "err", err)
		if !started {
			writeError(w, err)
			return
		}
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup", "bytes", n, "duration", time.Since(start).Round(time.Millisecond), "remote", r.RemoteAddr)
}
