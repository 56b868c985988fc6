// Package cli implements webhookd's commands other than serve: check,
// version and the commands that talk to a running daemon's admin API (or
// read the database when no daemon runs). Each command is a Command in the
// table Commands returns, in a file of its own.
package cli
