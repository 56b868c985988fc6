//go:build !linux

package actions

import (
	"syscall"
	"time"
)

// Elsewhere than on Linux, the runs of a killed daemon are not looked for
// (there is no /proc to find them in); systemd, or the machine's service
// manager, stops them with the service.
func orphanRuns(dirs []string) []int { return nil }

func stopGroups(groups []int, grace time.Duration) {}

// groupAlive reports whether group pgrp has a process (a zombie counts:
// without /proc there is no telling).
func groupAlive(pgrp int) bool { return syscall.Kill(-pgrp, 0) == nil }

// sessionGroups returns the group of a run's command, sid, while it has a
// process: without /proc, the other groups of its session cannot be
// listed, and are left to the service manager.
func sessionGroups(sid int) []int {
	if syscall.Kill(-sid, 0) == nil {
		return []int{sid}
	}
	return nil
}
