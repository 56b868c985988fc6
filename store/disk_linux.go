package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// freeSpace returns the bytes an unprivileged process may still write on
// the file system that holds dir.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// copyOwner gives path the owner and group of the file fi describes, so
// that a database compacted by root stays readable by the service's user.
// Without the privilege to change it, the owner stays as it is.
func copyOwner(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Getuid() && int(st.Gid) == os.Getgid()) {
		return nil
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}
