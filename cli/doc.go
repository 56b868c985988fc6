// Package cli implements webhookd's commands other than serve. Each is a
// Command in the table Commands returns, in a file of its own: check,
// send, events, show, replay, retry, cancel, pause, resume, backup,
// compact and version.
//
// The commands that read or change the daemon's state talk to its admin
// API (api.go), found through the config read leniently
// (config.LoadClient): they need none of the hooks' secrets. With no
// daemon answering, events and show open the database read-only. Every
// wait on the daemon is bounded (bounds: a connection accepted, an answer
// begun, and each wait for more of an answer that has begun, never its
// whole length), and a change asked for whose answer was not read (a
// bound passed, Ctrl-C, a hangup, a cut connection) is reported as one
// that may still be made. A
// command line that makes no sense is a UsageError (exit status 2); any
// other error is exit status 1.
package cli
