package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// TestParse_MaxBodyOn32bit: on a 32-bit platform the database cannot hold
// a delivery past store.MaxBody (bbolt panicked reading four of 70 MiB
// back, and took the daemon with it); a max_body past it, in [server] or
// in a hook, is an error at its line, and one within it loads. A 64-bit
// platform loads 100MiB (its bound, 256MiB, is TestParse_MaxBodyBound's).
func TestParse_MaxBodyOn32bit(t *testing.T) {
	within := "[server]\nmax_body = \"63MiB\"\n" + hook("provider = \"none\"\nmax_body = 66060288")
	if _, _, err := Parse("c.toml", []byte(within)); err != nil {
		t.Fatalf("max_body of 63MiB: %v; want it loaded", err)
	}
	for _, tc := range []struct{ src, want string }{
		{"[server]\nmax_body = \"100MiB\"", `c.toml:2: max_body is 104857600 bytes; on this 32-bit platform the database holds a delivery of at most 66060288 (63MiB)`},
		{hook("provider = \"none\"\nmax_body = \"3GB\""), `c.toml:4: hook "h": max_body is 3000000000 bytes; on this 32-bit platform the database holds a delivery of at most 66060288 (63MiB)`},
	} {
		_, _, err := Parse("c.toml", []byte(tc.src))
		if strconv.IntSize == 64 {
			if err != nil && strings.Contains(tc.src, "100MiB") {
				t.Errorf("on a 64-bit platform, Parse(%q) = %v; want it loaded", tc.src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.src, err, tc.want)
		}
	}
}

// TestParse_MaxSizeOn32bit: on a 32-bit platform the database holds at
// most store.MaxData (1.5 GiB) of data; a max_size past it could never be
// reached (new events are refused first) and is an error at its line. A
// 64-bit platform loads it.
func TestParse_MaxSizeOn32bit(t *testing.T) {
	if _, _, err := Parse("c.toml", []byte("[store]\nmax_size = \"1GiB\"")); err != nil {
		t.Fatalf("max_size of 1GiB: %v; want it loaded", err)
	}
	_, _, err := Parse("c.toml", []byte("[store]\nretention = \"7d\"\nmax_size = \"3GB\""))
	if store.MaxData() == 0 {
		if err != nil {
			t.Errorf("on a 64-bit platform, max_size of 3GB: %v; want it loaded", err)
		}
		return
	}
	want := `c.toml:3: max_size is 3000000000 bytes; on this 32-bit platform the database holds at most 1610612736 (1536MiB) of data`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("max_size of 3GB: %v; want an error containing %q", err, want)
	}
}

// TestParse_MaxBodyBound: a max_body past what the database takes on any
// platform is an error at its line. On a 64-bit one bbolt reads a page of
// records through a window of 2 GiB and puts up to four large records in
// a page, and each delivery is read whole into memory; and a plain
// integer near 2^63 overflowed the listener's "one byte more" check, so
// that every body read as empty.
func TestParse_MaxBodyBound(t *testing.T) {
	for _, src := range []string{
		"[server]\nmax_body = \"1GiB\"",
		"[server]\nmax_body = 9223372036854775807",
		hook("provider = \"none\"\nmax_body = \"300MiB\""),
	} {
		_, _, err := Parse("c.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "the database holds a delivery of at most") {
			t.Errorf("Parse(%q) = %v; want a max_body error", src, err)
		}
	}
	if store.MaxBody() > 63<<20 {
		if _, _, err := Parse("c.toml", []byte("[server]\nmax_body = \"256MiB\"")); err != nil {
			t.Errorf("max_body of 256MiB on a 64-bit platform: %v; want it loaded", err)
		}
	}
}
