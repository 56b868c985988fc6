package config

import (
	"errors"
	"testing"
)

func TestScanPositions(t *testing.T) {
	src := `# comment
[server]
listen = ":9000" # trailing
max_body = "1MiB"

[[hook]]
id = "a"
secret = """
multi
line"""
events = [
  "push", # a comment in an array
  "ping",
]
  [[hook.action]]
  name = "x"
  env = { A = "1", "B.C" = '2' }
  [[hook.action]]
  name = 'y'
  run = ["a", "b]"]

[[hook]]
id = "b"
  [[hook.action]]
  name = "z"
  sign.scheme = "standard"
[admin]
listen = "127.0.0.1:9001"
`
	p := scanPositions(src)
	want := map[string]int{
		"server":                      2,
		"server.listen":               3,
		"server.max_body":             4,
		"hook.0":                      6,
		"hook.0.id":                   7,
		"hook.0.secret":               8,
		"hook.0.events":               11,
		"hook.0.action.0":             15,
		"hook.0.action.0.name":        16,
		"hook.0.action.0.env.A":       17,
		"hook.0.action.0.env.B.C":     17,
		"hook.0.action.1.name":        19,
		"hook.0.action.1.run":         20,
		"hook.1.id":                   23,
		"hook.1.action.0.name":        25,
		"hook.1.action.0.sign.scheme": 26,
		"admin.listen":                28,
		"hook.1.action.0.nokey":       24, // falls back to the table
	}
	for path, line := range want {
		if got := p.line(path); got != line {
			t.Errorf("line(%q) = %d; want %d", path, got, line)
		}
	}
}

func FuzzScanPositions(f *testing.F) {
	f.Add("[a]\nb = 1\n[[c]]\nd = \"x\"\n")
	f.Add("x = '''\n'''\ny = [\n{a=1},\n]")
	f.Add("\"\\")
	f.Fuzz(func(t *testing.T, src string) {
		p := scanPositions(src) // must not panic or hang
		_ = p.line("a.b")
	})
}

// TestParse_InlineArrayOfTablesLines: hooks and actions written as arrays
// of inline tables report each error at its element's line, not at the
// line where the array begins.
func TestParse_InlineArrayOfTablesLines(t *testing.T) {
	src := `hook = [
  { id = "a", provider = "none" },
  { id = "b", provider = "none", bogus = 1 },
  { id = "c", provider = "none", action = [
    { name = "x", run = ["x"] },
    { name = "y", run = ["y"], timeout = "soon" },
  ] },
]
`
	_, _, err := Parse("c.toml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("Parse = %v; want 2 errors", err)
	}
	for i, line := range []int{3, 6} {
		if es[i].Line != line {
			t.Errorf("error %d at line %d; want %d (%v)", i, es[i].Line, line, es[i])
		}
	}
}
