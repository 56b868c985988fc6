package actions

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A daemon that is killed cannot stop the commands it was running: they
// go on, orphaned, and the next start runs their jobs again. With
// concurrency 1 a deploy would then run twice at once. So before it
// dispatches anything, a scheduler that finds run directories left by a
// dead scheduler (rundir.go) stops the runs that scheduler started: the
// processes whose environment names a payload file in one of those
// directories, and the process groups they are in. Every run's command
// leads a session of its own, and its group (exec.go); a command that a
// run started with setsid, to outlive it, leads one too, and is left
// alone with every group in it, as a live run leaves it: the run's group
// record (payload.go) tells the run's session from the others. In a
// directory of a webhookd before 2026-12-07 (no runDirSessions file),
// whose commands led a group inside the daemon's session and made no
// record, every session is a service's, and a group inside a session is
// a run's unless its leader is alive and is no run.

// procStat is what orphanRuns reads of /proc/PID/stat.
type procStat struct {
	state         byte
	pgrp, session int
	kernel        bool // a kernel thread, which has no environment
	ok            bool
}

// pfKthread is the flag of a kernel thread in /proc/PID/stat's flags.
const pfKthread = 0x00200000

func readStat(pid int) procStat {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}
	}
	// pid (comm) state ppid pgrp session ...; comm may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}
	}
	// state ppid pgrp session tty_nr tpgid flags ...
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 || len(f[0]) != 1 {
		return procStat{}
	}
	pgrp, err1 := strconv.Atoi(f[2])
	session, err2 := strconv.Atoi(f[3])
	flags, err3 := strconv.ParseUint(f[6], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}
	}
	return procStat{state: f[0][0], pgrp: pgrp, session: session, kernel: flags&pfKthread != 0, ok: true}
}

// envSettle is how long environ tries again while a process shows an
// empty environment.
const envSettle = 100 * time.Millisecond

// envReader reads processes' environments, with one buffer for a look
// through /proc.
type envReader struct{ buf []byte }

// environs reads the environments of pids, by pid. A run whose only
// process was exec'ing (its last step, `exec make`) as a start looked was
// missed, for two reasons. Read in parts (os.ReadFile's first read is 512
// bytes), the environment was cut where the process exec'd between two
// reads: the kernel reads it from the memory the process had when the
// file was opened, which an exec ends. So it is read in one read, all of
// it or nothing. And a process in the middle of an execve shows an empty
// one for a moment (up to milliseconds here, longer on a busy machine), so
// an empty environment is read again for up to envSettle. The empty ones
// are read again together, after the first look at all of them: each
// process whose environment is really empty (env -i; PID 1 of some
// containers) would else cost envSettle, one after the other. A process
// that cannot be read (gone, another user's) is not in the answer; a
// kernel thread, which has no environment, is not read.
func (r *envReader) environs(pids []int) map[int][]byte {
	out := map[int][]byte{}
	var empty []int
	read := func(pid int) {
		b, err := r.readOnce("/proc/" + strconv.Itoa(pid) + "/environ")
		switch {
		case err != nil:
		case len(b) == 0:
			empty = append(empty, pid)
		default:
			out[pid] = slices.Clone(b)
		}
	}
	for _, pid := range pids {
		if st := readStat(pid); st.ok && !st.kernel {
			read(pid)
		}
	}
	for deadline := time.Now().Add(envSettle); len(empty) > 0; {
		if time.Now().After(deadline) {
			for _, pid := range empty {
				out[pid] = nil
			}
			break
		}
		time.Sleep(time.Millisecond)
		again := empty
		empty = nil
		for _, pid := range again {
			read(pid)
		}
	}
	return out
}

// readOnce reads the file at path in one read, into a buffer grown until
// the read does not fill it.
func (r *envReader) readOnce(path string) ([]byte, error) {
	if r.buf == nil {
		r.buf = make([]byte, 64<<10)
	}
	for {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		n, err := f.Read(r.buf)
		f.Close()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if n < len(r.buf) || len(r.buf) >= 8<<20 {
			return r.buf[:n], nil
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// pids lists the processes in /proc.
func pids() []int {
	es, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range es {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// orphanRuns returns the process groups of the runs whose payload files
// are in dirs (see above). Only this user's processes can be read.
//
// A run's group is found by any live process in it whose environment
// names such a payload file, while that file is there (a run that ended
// removed it, with its record, and what it left running is no longer a
// run's): the run's command, or, once that command has died (with its
// daemon gone, its next write to its output ends it), what it started
// and left running in its group. A run with a group record has the
// groups of the session it names, every other session is one it started.
// A payload file without a record, in a directory of this version, is of
// a command the daemon died just after starting, too soon for it to have
// started anything, so its sessions are the command's; in an older
// webhookd's directory, its sessions are services. A group inside a
// session of a run without a record whose leader is alive and is no run
// (someone else's group, which a process with that environment joined)
// is not stopped, nor this process's own.
func orphanRuns(dirs []string) []int {
	if len(dirs) == 0 {
		return nil
	}
	records := groupRecords(dirs)
	sessions := map[string]bool{}
	for _, d := range dirs {
		if _, err := os.Lstat(filepath.Join(d, runDirSessions)); err == nil {
			sessions[d] = true
		}
	}
	self, own := os.Getpid(), syscall.Getpgrp()
	// runPayload is the payload file of a dead daemon's run that pid's
	// environment names, if any.
	var envs envReader
	all := slices.DeleteFunc(pids(), func(pid int) bool { return pid == self })
	environs := envs.environs(all)
	runPayload := func(pid int) (string, bool) {
		env, ok := environs[pid]
		if !ok {
			// Not there at the first look (or not readable then).
			env = envs.environs([]int{pid})[pid]
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			path, ok := bytes.CutPrefix(kv, []byte("WEBHOOKD_PAYLOAD_FILE="))
			if ok && slices.Contains(dirs, filepath.Dir(string(path))) {
				return string(path), true
			}
		}
		return "", false
	}
	// A payload file that is gone (and its record with it) is of a run
	// that ended: what it left running — a service it started with
	// setsid — is left alone, as the daemon that ran it left it.
	gone := map[string]bool{}
	ended := func(payload string) bool {
		g, ok := gone[payload]
		if !ok {
			_, err := os.Lstat(payload)
			g = errors.Is(err, fs.ErrNotExist)
			gone[payload] = g
		}
		return g
	}
	var groups []int
	for _, pid := range all {
		st := readStat(pid)
		if !st.ok || st.state == 'Z' || st.pgrp == own || slices.Contains(groups, st.pgrp) {
			continue
		}
		payload, ok := runPayload(pid)
		if !ok || ended(payload) {
			continue
		}
		if g, recorded := records[payload]; recorded {
			if st.session != g {
				continue // a session the run started, not the run's
			}
		} else if st.pgrp == st.session {
			if !sessions[filepath.Dir(payload)] {
				continue // a service an older webhookd's run started
			}
			// The command of a run whose daemon died before its record.
		} else if st.pgrp != pid {
			if leader := readStat(st.pgrp); leader.ok && leader.state != 'Z' {
				if _, ok := runPayload(st.pgrp); !ok {
					continue
				}
			}
		}
		groups = append(groups, st.pgrp)
	}
	return groups
}

// groupRecords reads the group records in dirs: the process group of
// each run, by its payload file's path. A record that cannot be read
// counts as none.
func groupRecords(dirs []string) map[string]int {
	out := map[string]int{}
	for _, dir := range dirs {
		es, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range es {
			rest, ok := strings.CutPrefix(e.Name(), groupPrefix)
			if !ok {
				continue
			}
			target, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if g, err := strconv.Atoi(target); err == nil && g > 0 {
				out[filepath.Join(dir, payloadPrefix+rest)] = g
			}
		}
	}
	return out
}

// liveGroups returns which of groups still have a live process (a
// zombie, which only waits for its parent to reap it, is not), with one
// pass over /proc.
func liveGroups(groups []int) []int {
	live := map[int]bool{}
	for _, pid := range pids() {
		if st := readStat(pid); st.ok && st.state != 'Z' && slices.Contains(groups, st.pgrp) {
			live[st.pgrp] = true
		}
	}
	var out []int
	for _, g := range groups {
		if live[g] {
			out = append(out, g)
		}
	}
	return out
}

// sessionGroups returns the process groups of session sid that have a
// live process (a zombie, which only waits to be reaped, is not), with one
// pass over /proc; never the daemon's own group, nor one its pid names.
// A run's command leads a session of its own (exec.go): what it starts
// stays in that session, in the command's group or in one of its own
// (timeout(1), a shell's `set -m` jobs), unless it starts a session of
// its own with setsid, and is then no longer the run's.
func sessionGroups(sid int) []int {
	self, own := os.Getpid(), syscall.Getpgrp()
	var out []int
	for _, pid := range pids() {
		st := readStat(pid)
		if st.ok && st.state != 'Z' && st.session == sid && st.pgrp != own && st.pgrp != self && !slices.Contains(out, st.pgrp) {
			out = append(out, st.pgrp)
		}
	}
	return out
}

// groupAlive reports whether a process of group pgrp is alive: a zombie,
// left to a daemon that is PID 1 or a subreaper and does not reap what is
// not its own, does not count.
func groupAlive(pgrp int) bool { return len(liveGroups([]int{pgrp})) > 0 }

// stopGroups sends each process group SIGTERM, and SIGKILL to those still
// alive after grace; it returns once they are gone, or a second after the
// SIGKILL.
func stopGroups(groups []int, grace time.Duration) {
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	wait := func(d time.Duration) []int {
		deadline := time.Now().Add(d)
		for {
			left := liveGroups(groups)
			if len(left) == 0 || time.Now().After(deadline) {
				return left
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, g := range wait(grace) {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	wait(time.Second)
}
