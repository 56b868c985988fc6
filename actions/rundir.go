package actions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/webhookd/webhookd/store"
)

// Payload files go in a directory of the scheduler's own, which Start
// makes and the scheduler's end removes. A process that is killed (a
// crash, SIGKILL, the OOM killer) cannot remove its directory, and on a
// memory file system what it leaves takes RAM until the machine reboots.
// So each directory holds a lock file that its scheduler keeps locked
// (flock) while it runs; the kernel lets go of the lock when the process
// ends, however it ends, and the next scheduler to start removes every
// directory whose lock it can take.

const (
	runDirPrefix = "webhookd-runs-"
	runDirLock   = "lock"
	// runDirSessions, an empty file, marks a directory whose runs'
	// commands each lead a session of their own and have a group record
	// (payload.go): a webhookd before 2026-12-07 made neither, and a
	// session that names a payload file in its directory is a service a
	// run started with setsid (orphans_linux.go).
	runDirSessions = "sessions"
)

// runDir is a directory of payload files, locked while its scheduler runs.
type runDir struct {
	path string
	lock *os.File
}

// makeRunDir makes a locked run directory in parent.
func makeRunDir(parent string) (*runDir, error) {
	path, err := os.MkdirTemp(parent, runDirPrefix)
	if err != nil {
		return nil, err
	}
	// The lock file is made under another name and renamed once locked:
	// a sweep (which opens only runDirLock) never sees it unlocked.
	tmp := filepath.Join(path, runDirLock+".new")
	var f *os.File
	err = os.WriteFile(filepath.Join(path, runDirSessions), nil, 0o600)
	if err == nil {
		f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err == nil {
		if err = flock(f); err == nil {
			err = os.Rename(tmp, filepath.Join(path, runDirLock))
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &runDir{path: path, lock: f}, nil
}

// remove removes the directory and what it holds, then lets go of its lock.
func (d *runDir) remove() error {
	err := os.RemoveAll(d.path)
	return errors.Join(err, d.lock.Close())
}

// deadRunDirs returns the run directories in parent that no running
// scheduler holds: those whose lock it could take, and now holds (their
// remove lets go of it). A directory without a lock file is left alone
// (one being made this moment, or not ours to judge).
func deadRunDirs(parent string) ([]*runDir, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var dead []*runDir
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), runDirPrefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		f, err := openLock(path)
		if err != nil {
			continue
		}
		if flock(f) != nil {
			f.Close()
			continue
		}
		dead = append(dead, &runDir{path: path, lock: f})
	}
	return dead, nil
}

// openLock opens the lock file of run directory path, if path is a
// directory of this user's with a regular file as its lock. The parents
// (/tmp, /dev/shm) are shared with every local user, who can name a
// directory as a run directory: another user's is never taken for a dead
// daemon's (its payload files would claim cut-off runs), and a lock file
// that is a FIFO or a symlink is not opened (opening a FIFO waits for a
// writer, and held up every dispatch).
func openLock(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s: not a directory of this user's", path)
	}
	f, err := os.OpenFile(filepath.Join(path, runDirLock), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: lock is not a regular file", path)
	}
	return f, nil
}

// lostStarts returns the runs whose payload files are in dirs: the runs a
// killed daemon cut off, whose start it may not have written yet.
func lostStarts(dirs []*runDir) []store.LostStart {
	var runs []store.LostStart
	for _, d := range dirs {
		entries, err := os.ReadDir(d.path)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if r, ok := payloadRun(e.Name()); ok {
				runs = append(runs, r)
			}
		}
	}
	return runs
}

// flock takes an exclusive lock on f without waiting.
func flock(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := c.Control(func(fd uintptr) {
		ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return err
	}
	return ferr
}
