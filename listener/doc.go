// Package listener is webhookd's public HTTP side. Each request goes
// through short steps, each its own function: route (the hook by path) →
// method → limit (size, client address, rate) → read the body → verify (the
// hook's provider) → handshake → filter (event types) → plan the jobs →
// persist → answer.
//
// # Invariants
//
//   - The body limit applies before anything reads the body, and before
//     verification.
//   - A 2xx answer to a delivery is written only after [Store.Ingest]
//     returned, that is after the event and its jobs are committed and
//     fsynced. When the store cannot write, the answer is 503 with
//     Retry-After, never a 2xx.
//   - A refusal never shows a secret or an expected signature: the answer
//     and the log name the check that failed and nothing derived from a
//     secret.
//   - Headers that carry a secret (a token, Basic credentials) are redacted
//     before the event is stored.
//   - The hooks are one immutable snapshot swapped whole on reload: a
//     request runs to its end on the snapshot it started with.
//   - A panic in a handler is a 500 and a log line, never a dead daemon.
//
// Providers live one to a file (provider_github.go, ...): a provider
// verifies a request, finds its event type and delivery id, answers the
// provider's handshake if it has one, and signs a request as the provider
// would (for `webhookd send` and tests).
package listener
