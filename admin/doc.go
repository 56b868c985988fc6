// Package admin is webhookd's admin listener: the JSON API, the dashboard,
// /metrics and /healthz. It listens on loopback (or a unix socket) by
// default; beyond loopback every request needs the bearer token.
//
// It reads the store and asks the scheduler to act (replay, retry, cancel,
// pause); it never writes the store behind the scheduler's back.
package admin
