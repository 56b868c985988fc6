package actions

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd/store"
)

// memPayloadMax is the largest body whose payload file goes on a memory
// file system when there is one; bigger ones go to the temp directory, so
// that a few large payloads cannot fill a small machine's RAM.
const memPayloadMax = 1 << 20

// memoryDir returns a directory on a memory file system (tmpfs) where
// payload files may go, or "" if there is none: systemd's runtime
// directory for the service ($RUNTIME_DIRECTORY), the user's
// ($XDG_RUNTIME_DIR), or /dev/shm. Creating and removing a small file
// there costs a fraction of what it costs on a journaled disk file
// system, where it also waits behind the database's fsyncs (issue 8's
// scheduler overhead; docs/benchmarks.md).
func memoryDir() string {
	for _, d := range []string{os.Getenv("RUNTIME_DIRECTORY"), os.Getenv("XDG_RUNTIME_DIR"), "/dev/shm"} {
		// systemd lists several runtime directories separated by colons.
		d, _, _ = strings.Cut(d, ":")
		if d != "" && isMemoryFS(d) {
			return d
		}
	}
	return ""
}

// writePayload writes body to a new payload file for attempt attempt of
// job jobID and returns it open, at its start: in mem (a memory file
// system) when that is set and the body is small, else — or when that
// fails, say because mem is full — in disk. The file is named after the
// job and the attempt (payloadPrefix), so that a daemon killed during the
// run leaves them behind in its run directory (see lostStarts).
func writePayload(mem, disk, jobID string, attempt int, body []byte) (*os.File, error) {
	name := payloadPrefix + jobID + "-" + strconv.Itoa(attempt) + ".*"
	if mem != "" && len(body) <= memPayloadMax {
		if f, err := writeFile(mem, name, body); err == nil {
			return f, nil
		}
	}
	return writeFile(disk, name, body)
}

// payloadPrefix starts every payload file's name; the job id follows, a
// dash, the attempt, then a dot and a random part.
const payloadPrefix = "webhookd-payload-"

// payloadRun returns the job id and attempt a payload file's name
// carries, if any.
func payloadRun(name string) (store.LostStart, bool) {
	rest, ok := strings.CutPrefix(name, payloadPrefix)
	if !ok {
		return store.LostStart{}, false
	}
	run, _, ok := strings.Cut(rest, ".")
	id, n, ok2 := strings.Cut(run, "-")
	attempt, err := strconv.Atoi(n)
	if !ok || !ok2 || id == "" || err != nil || attempt < 1 {
		return store.LostStart{}, false
	}
	return store.LostStart{JobID: id, Attempt: attempt}, true
}

// A run's command leads a session of its own (exec.go), and so does a
// service that a run started with setsid to outlive it, which a restart
// after a crash must leave alone (orphans_linux.go): both name the run's
// payload file in their environment. What tells them apart is a group
// record: a symbolic link beside the payload file, named after it, whose
// target is the command's process group id (one system call to make, and
// none to write: it is made for every run), made once the command has
// started and removed after its payload file.
const groupPrefix = "webhookd-group-"

// groupRecord returns the path of the group record of the payload file
// at path.
func groupRecord(path string) string {
	return filepath.Join(filepath.Dir(path), groupPrefix+strings.TrimPrefix(filepath.Base(path), payloadPrefix))
}

// writeGroupRecord notes that the run whose payload file is at path
// leads process group pgid.
func writeGroupRecord(path string, pgid int) error {
	return os.Symlink(strconv.Itoa(pgid), groupRecord(path))
}

// removePayload removes the payload file at path, then its group record:
// a record without its payload file names a run that has ended, while a
// payload file without its record would name a run whose command had
// just started, whose session leaders are all its own (orphans_linux.go).
func removePayload(path string) {
	os.Remove(path)
	os.Remove(groupRecord(path))
}

func writeFile(dir, pattern string, body []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(body); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}
