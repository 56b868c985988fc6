// Package certs gives the public listener its TLS certificates: from a
// certificate and key file pair that it re-reads when they change (so a
// renewal by certbot or another tool needs no restart), or from an ACME
// CA such as Let's Encrypt through golang.org/x/crypto/acme/autocert.
//
// # Invariants
//
//   - A certificate pair is loaded at start: a missing, unreadable or
//     mismatched pair fails the start, never the first handshake.
//   - After start, a pair that cannot be loaded (half-written during a
//     renewal, say) is logged and the last good certificate goes on being
//     served; the files are looked at again on a later handshake.
//   - The files are looked at (stat) at most once per CheckInterval, not on
//     every handshake, and read only when their size or modification time
//     changed.
//   - ACME certificates and the account key are cached in a directory
//     beside the database (0700), so a restart does not ask the CA again.
package certs
