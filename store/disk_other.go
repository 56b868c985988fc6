//go:build !linux

package store

import (
	"errors"
	"os"
)

// freeSpace is known only on Linux, webhookd's platform; elsewhere the
// min_free check is off.
func freeSpace(dir string) (int64, error) {
	return 0, errors.New("free space unknown on this platform")
}

// copyOwner leaves the owner as it is outside Linux.
func copyOwner(fi os.FileInfo, path string) error { return nil }
