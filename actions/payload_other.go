//go:build !linux

package actions

// isMemoryFS is known only on Linux, webhookd's platform; elsewhere every
// payload file goes to the temp directory.
func isMemoryFS(dir string) bool { return false }
