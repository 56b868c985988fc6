package admin

import (
	"net/http"
	"strconv"
	"time"
)

// apiBackup is GET /api/backup: a consistent copy of the database, from one
// read transaction, streamed as it is written (`webhookd backup` saves it
// and checks it). A copy cut off by an error ends the connection without
// its last bytes, so the client sees a short body, never a short file that
// looks whole.
func (s *Server) apiBackup(w http.ResponseWriter, r *http.Request) {
	// A large database on a slow link takes as long as it takes.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	start := time.Now()
	started := false
	n, err := s.opts.Store.BackupStream(w, func(size int64) {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", `attachment; filename="webhookd-backup.db"`)
		h.Set("Cache-Control", "no-store")
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
