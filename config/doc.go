// Package config loads webhookd's TOML file into a validated, immutable
// [Config].
//
// Everything is checked at load: unknown keys, types, durations and sizes,
// hook and action names, providers and their parameters, secrets (env: and
// file: are read here), when expressions and templates (compiled here, once).
// Every problem is reported as FILE:LINE: message, all of them at once, so
// that `webhookd check` lists everything to fix in one go.
//
// A Config is never modified after Load returns it; a reload loads a new one
// and the daemon swaps the whole value. Relative paths in the file (the
// store, file: secrets, certificates, an action's dir) are resolved against
// the directory of the config file.
//
// A [Reloader] loads the file again when it changes (a [Watcher] follows
// the file's directory and its symlinks, so that editors' renames, git
// checkouts and ConfigMap swaps are all seen) or on SIGHUP, and hands each
// valid config to the daemon whole; a broken file is reported once and the
// running config stays.
//
// Secrets are held as [Secret] values whose String, GoString, LogValue and
// MarshalJSON never show the secret itself.
package config
