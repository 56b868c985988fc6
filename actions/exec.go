package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// result is how one run ended, before the scheduler decides what follows.
type result struct {
	run store.Run
	ok  bool
	// permanent failures are not retried: a template that cannot render,
	// an HTTP answer that says the request is wrong.
	permanent bool
	// retryAfter is the least delay a server asked for before a retry.
	retryAfter time.Duration
	// interrupted is a run cut off by a stop; cancelled, by a person.
	interrupted bool
	cancelled   bool
	// payload is the run's payload file, left for the caller to remove
	// once the run's start is on disk (runInput.keepPayload).
	payload string
}

// errCancelled and errStopping are the causes a run's context is cancelled
// with.
var (
	errCancelled = errors.New("cancelled by a person")
	errStopping  = errors.New("webhookd is stopping")
)

// runInput is what a runner needs for one attempt.
type runInput struct {
	action *Action
	job    *store.Job
	event  *store.Event
	data   *tmpl.Data
	// keepPayload leaves the payload file for the caller (result.payload):
	// the run started before its start was on disk, and until it is, that
	// file in the run directory is what tells a restart after a crash that
	// the run happened (lostStarts), even once the run has ended.
	keepPayload bool
}

// noExit is the exit status of a command that has none.
func noExit() *int { c := -1; return &c }

// runExec runs a command attempt.
func (s *Scheduler) runExec(ctx context.Context, in *runInput) result {
	a := in.action
	started := s.now()
	// A command that never started has no exit status: -1, as for one a
	// signal killed (store.Run.ExitCode), its error saying why.
	fail := func(permanent bool, format string, args ...any) result {
		return result{run: store.Run{Started: started, Finished: s.now(), Result: store.RunFailed, ExitCode: noExit(), Error: fmt.Sprintf(format, args...)}, permanent: permanent}
	}
	argv := make([]string, len(a.Run))
	for i, t := range a.Run {
		v, err := t.Execute(in.data)
		if err != nil {
			return fail(true, "run[%d]: %v; nothing was run", i, err)
		}
		if strings.ContainsRune(v, 0) {
			// From the payload, and no command can be given it: the
			// same at every attempt.
			return fail(true, "run[%d]: rendered with a NUL byte, which no argument can hold; nothing was run", i)
		}
		argv[i] = v
	}
	if argv[0] == "" {
		return fail(true, "run[0]: rendered empty: no command to run; nothing was run")
	}
	env := inherited(os.Environ(), s.cfg.Load().HideEnv)
	for _, e := range a.Env {
		v, err := e.Value.Execute(in.data)
		if err != nil {
			return fail(true, "env %s: %v; nothing was run", e.Name, err)
		}
		if strings.ContainsRune(v, 0) {
			return fail(true, "env %s: rendered with a NUL byte, which no environment variable can hold; nothing was run", e.Name)
		}
		env = append(env, e.Name+"="+v)
	}
	dir := s.runDir
	if dir == "" {
		dir = s.opts.TempDir // not started (tests)
	}
	// The same open file is the command's stdin, read from its start: no
	// pipe and no copying goroutine for the body.
	payload, err := writePayload(s.memDir, dir, in.job.ID, in.job.Attempts, in.event.Body)
	if err != nil {
		return fail(false, "payload file: %v", err)
	}
	defer payload.Close()
	if !in.keepPayload {
		defer removePayload(payload.Name())
	}
	fail = func(permanent bool, format string, args ...any) result {
		return result{run: store.Run{Started: started, Finished: s.now(), Result: store.RunFailed, ExitCode: noExit(), Error: fmt.Sprintf(format, args...)}, permanent: permanent, payload: keptPayload(in, payload)}
	}
	env = append(env,
		"WEBHOOKD_EVENT_ID="+in.event.ID,
		"WEBHOOKD_JOB_ID="+in.job.ID,
		"WEBHOOKD_HOOK="+in.event.Hook,
		"WEBHOOKD_ACTION="+a.Name,
		"WEBHOOKD_EVENT="+in.event.Type,
		"WEBHOOKD_DELIVERY="+in.event.Delivery,
		"WEBHOOKD_ATTEMPT="+strconv.Itoa(in.job.Attempts),
		"WEBHOOKD_PAYLOAD_FILE="+payload.Name(),
	)

	out := newTail(store.MaxOutput)
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(false, "pipe: %v", err)
	}
	if a.Base != "" && strings.ContainsRune(argv[0], '/') && !filepath.IsAbs(argv[0]) {
		// Relative to the config file, as the README says; exec would
		// take it relative to Dir.
		argv[0] = filepath.Join(a.Base, argv[0])
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.Dir
	cmd.Env = env
	cmd.Stdin = payload
	cmd.Stdout = pw
	cmd.Stderr = pw
	// A session of its own, which is a process group of its own too, and
	// has no controlling terminal: a command of a daemon run in a
	// terminal that asks it (git's password prompt) fails at once, as
	// under systemd, instead of being stopped until its timeout for
	// reading it from a background group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started = s.now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		// The child's chdir fails as the exec does (ENOENT, ENOTDIR):
		// name the directory when it is the one at fault.
		if a.Dir != "" {
			if fi, serr := os.Stat(a.Dir); serr != nil {
				return fail(false, "dir %s: %v; nothing was run", a.Dir, serr)
			} else if !fi.IsDir() {
				return fail(false, "dir %s: not a directory; nothing was run", a.Dir)
			}
		}
		if errors.Is(err, syscall.E2BIG) {
			// The rendered arguments or environment are over what
			// the kernel takes: they are the same at every retry.
			return fail(true, "start %s: %v (the arguments and environment rendered from this event are too long); nothing was run", argv[0], err)
		}
		if why := whyNotStarted(cmd.Path, err); why != "" {
			return fail(false, "start %s: %s", argv[0], why)
		}
		return fail(false, "start %s: %v", argv[0], err)
	}
	pw.Close()
	payload.Close()
	pgid := cmd.Process.Pid
	if err := writeGroupRecord(payload.Name(), pgid); err != nil {
		// The run goes on: without its record, a restart after a
		// crash takes every session its payload file names for the
		// run's, also a service the run started with setsid.
		s.log.Warn("write the run's group record", "job", in.job.ID, "err", err)
	}
	// The output is copied until the pipe's last writer closes it. If that
	// outlives the run (a service started with setsid), what it prints
	// after the run is recorded goes nowhere: detached.
	var outMu sync.Mutex
	detached := false
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// An 8 KiB buffer: most commands print little.
		buf := make([]byte, 8<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				outMu.Lock()
				if !detached {
					out.Write(buf[:n])
				}
				outMu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(a.Timeout)
	defer timer.Stop()
	var waitErr error
	var stopReason string
	timedOut := false
	select {
	case waitErr = <-exited:
	case <-timer.C:
		stopReason = fmt.Sprintf("timed out after %s", a.Timeout)
		timedOut = true
		waitErr = s.stopSession(pgid, exited)
	case <-ctx.Done():
		stopReason = context.Cause(ctx).Error()
		waitErr = s.stopSession(pgid, exited)
	}
	// Whatever the command left behind in its session goes with it; after
	// a moment, when the command ended by itself: a last line `setsid
	// service &` is still on its way out of the group when the script
	// ends, and would be killed before it got there.
	settle := time.Now()
	if stopReason == "" {
		settle = settle.Add(groupSettle)
		// kill(-pgid, 0) first: a group that is gone (the usual case)
		// costs no look through /proc.
		for syscall.Kill(-pgid, 0) == nil && groupAlive(pgid) && time.Now().Before(settle) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	pipeWait := time.Now().Add(2 * time.Second)
	drained := false
	if stopReason == "" {
		// The session's other groups (a `set -m` job, timeout(1)'s) are
		// looked for when something still holds the output pipe once the
		// command's group is gone: a look through /proc costs about as
		// much as the rest of a run, and most commands leave nothing.
		// What such a group left running with its output sent elsewhere
		// is not seen (README).
		select {
		case <-copied:
			drained = true
		default:
			select {
			case <-copied:
				drained = true
			case <-time.After(leftoverWait):
			}
		}
	}
	if !drained {
		killSession(pgid, settle)
		select {
		case <-copied:
			drained = true
		case <-time.After(time.Until(pipeWait)):
		}
	}
	if drained {
		pr.Close()
	} else {
		// A process that left the session (setsid) still holds the pipe.
		// The run ends now, but the pipe is drained until that process
		// closes it, not closed under it: its next write would get
		// SIGPIPE and kill it.
		outMu.Lock()
		detached = true
		outMu.Unlock()
		go func() {
			<-copied
			pr.Close()
		}()
	}

	outMu.Lock()
	output, truncated := out.bytes()
	outMu.Unlock()
	code := cmd.ProcessState.ExitCode()
	run := store.Run{Started: started, Finished: s.now(), ExitCode: &code, Output: output, Truncated: truncated}
	res := result{run: run, payload: keptPayload(in, payload)}
	switch {
	case stopReason != "" && ctx.Err() != nil && (!timedOut || errors.Is(context.Cause(ctx), errCancelled)):
		// Stopped by a stop or a cancel; a run that had timed out
		// already, when a stop began in its kill grace, failed (below):
		// only a person's cancel outranks its timeout.
		res.run.Result = store.RunInterrupted
		res.run.Error = stopReason
		res.cancelled = errors.Is(context.Cause(ctx), errCancelled)
		res.interrupted = !res.cancelled
	case stopReason != "":
		res.run.Result = store.RunFailed
		res.run.Error = stopReason
	case waitErr == nil:
		res.run.Result = store.RunSucceeded
		res.ok = true
	default:
		res.run.Result = store.RunFailed
		res.run.Error = exitMessage(cmd.ProcessState, waitErr)
	}
	return res
}

// whyNotStarted explains a start that failed for the script's own sake,
// where the kernel's error misleads: ENOENT for a script that is there,
// whose #! line names an interpreter that is not (often "/bin/sh\r", a
// file saved with CRLF line endings); ENOEXEC for a script without a
// #! line (which a shell would have run itself); EACCES for one without
// the exec bit, for one with it (a noexec mount, or an action's dir the
// daemon's user may not enter), and for one behind a directory that user
// may not enter (then it cannot be looked at). It returns "" otherwise.
func whyNotStarted(path string, err error) string {
	if errors.Is(err, syscall.EACCES) {
		fi, serr := os.Stat(path)
		switch {
		case errors.Is(serr, fs.ErrPermission):
			// The file cannot be looked at either: a directory on the
			// way to it is not to be entered.
			return "permission denied: the user webhookd runs as may not enter a directory on the path to " + path + " (each needs x for that user)"
		case serr != nil || !fi.Mode().IsRegular():
			return ""
		case fi.Mode()&0o111 == 0:
			return "not executable (chmod +x " + path + ")"
		}
		return "permission denied, though the file is executable: its file system may be mounted noexec (see mount), or the user webhookd runs as may not enter a directory on its path or the action's dir"
	}
	noent, noexec := errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOEXEC)
	if !noent && !noexec {
		return ""
	}
	f, ferr := os.Open(path)
	if ferr != nil {
		return "" // the command itself is missing: err says so
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	line, _, _ := bytes.Cut(head, []byte("\n"))
	shebang, ok := bytes.CutPrefix(line, []byte("#!"))
	switch {
	case noexec && !ok:
		return "not a program, and it has no #! line to name its interpreter (start a shell script with #!/bin/sh)"
	case noent && ok:
		fields := strings.Fields(string(bytes.TrimRight(shebang, "\r")))
		if len(fields) == 0 {
			return ""
		}
		if bytes.HasSuffix(shebang, []byte("\r")) {
			return fmt.Sprintf("its #! line names %q, with a carriage return, which is not found: the file has Windows (CRLF) line endings (convert it: dos2unix FILE)", fields[0]+"\r")
		}
		return fmt.Sprintf("its #! line names the interpreter %s, which is not found", fields[0])
	}
	return ""
}

// keptPayload is the payload file's name when the caller removes it.
func keptPayload(in *runInput, f *os.File) string {
	if in.keepPayload {
		return f.Name()
	}
	return ""
}

// groupSettle is how long a command's session may take, after the
// command ended, to be left by what it started with setsid.
const groupSettle = 250 * time.Millisecond

// leftoverWait is how long the output pipe may take to reach its end once
// the command's group is gone, before the rest of its session is looked
// for: what holds it then is likely a process in another group of it.
const leftoverWait = 50 * time.Millisecond

// stopSession sends every process group of the command's session (sid,
// the command's pid) SIGTERM (and SIGCONT), then SIGKILL after the grace
// to every group of the session alive then, and returns the command's
// wait error. A command that dies at once (a script without a trap) does
// not cut the grace short for the rest of its session: they have until
// its end to finish their own clean-up, and the caller kills what is
// left.
func (s *Scheduler) stopSession(sid int, exited <-chan error) error {
	groups := sessionGroups(sid)
	if !slices.Contains(groups, sid) {
		groups = append(groups, sid)
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	// A stopped process (SIGTTIN: it read from the terminal webhookd runs
	// in) would hold its SIGTERM until the SIGKILL; SIGCONT lets it
	// handle it now, as timeout(1) and systemd do.
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGCONT)
	}
	grace := time.NewTimer(s.opts.KillGrace)
	defer grace.Stop()
	var err error
	select {
	case err = <-exited:
	case <-grace.C:
		killSession(sid, time.Now())
		return <-exited
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(sessionGroups(sid)) > 0 {
		select {
		case <-grace.C:
			return err
		case <-tick.C:
		}
	}
	return err
}

// killSession sends SIGKILL to every process group of session sid (a
// run's command's: sid is its pid) once settle has passed, or sooner
// when none is left in it; and again, to a group made meanwhile, until
// none is alive or a second has passed (a process in an uninterruptible
// sleep is not waited for longer). A group that leaves the session before
// settle (a service on its way to setsid) is not its any more.
func killSession(sid int, settle time.Time) {
	end := settle.Add(time.Second)
	for {
		groups := sessionGroups(sid)
		if len(groups) == 0 {
			return
		}
		now := time.Now()
		if !now.Before(settle) {
			for _, g := range groups {
				_ = syscall.Kill(-g, syscall.SIGKILL)
			}
			if now.After(end) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exitMessage(ps *os.ProcessState, err error) string {
	if ps == nil {
		return err.Error()
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ps.ExitCode())
}

// inherited is the daemon's environment without the variables in hide.
func inherited(environ []string, hide map[string]bool) []string {
	if len(hide) == 0 {
		return environ
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); !hide[name] {
			out = append(out, kv)
		}
	}
	return out
}
