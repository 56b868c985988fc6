// Package redact shortens what errors and logs would otherwise quote whole
// and may hold a credential.
package redact

import "strings"

// URL is u as an error may show it: its scheme and host, with no user
// information, path or query, which can be a credential (a Slack or
// Discord webhook URL's path is one). u need not parse.
func URL(u string) string {
	scheme, rest := "", u
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest = u[:i+3], u[i+3:]
	}
	host, more := rest, false
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, more = rest[:i], true
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = "…@" + host[i+1:]
	}
	if more {
		return scheme + host + "/…"
	}
	return scheme + host
}
