// Package admin is webhookd's admin listener: the JSON API, the dashboard
// (server-rendered html/template pages embedded in the binary, no
// JavaScript), /metrics and /healthz.
//
// It listens on loopback or a unix socket by default; Open refuses an
// address beyond loopback without a token. With a token, every request but
// /healthz, /login and /static/ carries it as a bearer token, or comes from
// a browser with a session cookie set by the login form (signed with a key
// derived from the token; never the token itself). Without one, only
// requests addressed to localhost or a loopback address are answered (DNS
// rebinding). Every dashboard form carries a CSRF token tied to its
// session, and browsers' cross-origin POSTs are refused everywhere. auth.go
// holds these rules.
//
// It reads the store and asks the scheduler to act (replay, retry, cancel,
// pause); it never writes the store behind the scheduler's back. Every
// error reaches the client through statusOf, the one map from errors to
// HTTP statuses. A bulk replay walks the store a page at a time, oldest
// event first, and streams its progress as JSON lines.
//
// A dashboard page costs the same whatever the store holds: the event page
// reads the start of a body over 64 KiB (pageRead) and shows its first 64
// KiB, shows 20 of an event's jobs, 6 runs of each and 512 KiB of their
// output (pagejobs.go), and says what it leaves out and where the rest is
// (the API, webhookd show). Text a sender wrote is shown through visible:
// control and bidi characters written out.
//
// GET /api/events/{id} costs an event's body once, whatever its size: the
// body is copied out of its read transaction, and its JSON string, base64
// or indented payload is written as the answer goes out (answer.go,
// internal/jsonstream), byte for byte what json.Encoder would have built
// whole. No read transaction waits on a client, however slowly it reads.
package admin
