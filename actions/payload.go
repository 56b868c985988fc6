package actions

import (
	"io"
	"os"
	"strings"
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

// writePayload writes body to a new payload file of job jobID and returns
// it open, at its start: in mem (a memory file system) when that is set
// and the body is small, else — or when that fails, say because mem is
// full — in disk. The file is named after the job (payloadPrefix), so that
// a daemon killed during the run leaves the job's name behind in its run
// directory (see lostStarts).
func writePayload(mem, disk, jobID string, body []byte) (*os.File, error) {
	if mem != "" && len(body) <= memPayloadMax {
		if f, err := writeFile(mem, jobID, body); err == nil {
			return f, nil
		}
	}
	return writeFile(disk, jobID, body)
}

// payloadPrefix starts every payload file's name; the job id follows, then
// a dot and a random part.
const payloadPrefix = "webhookd-payload-"

// payloadJob returns the job id a payload file's name carries, if any.
func payloadJob(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, payloadPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ".")
	return id, ok && id != ""
}

func writeFile(dir, jobID string, body []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, payloadPrefix+jobID+".*")
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
