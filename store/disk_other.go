//go:build !linux

package store

import "errors"

// freeSpace is known only on Linux, webhookd's platform; elsewhere the
// min_free check is off.
func freeSpace(dir string) (int64, error) {
	return 0, errors.New("free space unknown on this platform")
}
