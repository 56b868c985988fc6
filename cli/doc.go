// Package cli implements webhookd's commands other than serve. Each is a
// Command in the table Commands returns, in a file of its own: check,
// send, events, show, replay, retry, cancel, pause, resume, backup,
// compact and version.
//
// The commands that read or change the daemon's state talk to its admin
// API (api.go), found through the config read leniently
// (config.LoadClient): they need none of the hooks' secrets. With no
// daemon answering, events and show open the database read-only. A
// command line that makes no sense is a UsageError (exit status 2); any
// other error is exit status 1.
package cli
