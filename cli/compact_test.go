package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// compact -o DIR is refused at once, saying what to give, rather than
// after the whole rewrite with a rename's "file exists"; nothing is left
// behind and the database is as it was.
func TestCompact_OutputDirectory(t *testing.T) {
	dir, cfg := offlineConfig(t)
	sub := filepath.Join(dir, "out")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{sub, sub + "/"} {
		_, _, err := runCmd(t, "compact", "-config", cfg, "-o", arg)
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("compact -o %s: %v; want it called a directory", arg, err)
		}
	}
	for _, d := range []string{dir, sub} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".compact") {
				t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// compact -o with the database's own directory suggests a file that is not
// the database (following the advice compacted the database in place,
// which -o promises not to do), and the suggestion, followed, works and
// leaves the database as it was.
func TestCompact_OutputDatabaseDirectorySuggestsAnotherFile(t *testing.T) {
	dir, cfg := offlineConfig(t)
	db := filepath.Join(dir, "webhookd.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, "compact", "-config", cfg, "-o", dir)
	if err == nil {
		t.Fatalf("compact -o %s: no error", dir)
	}
	m := suggested.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("compact -o %s: %v; want a file suggested", dir, err)
	}
	if m[1] == db {
		t.Fatalf("compact -o %s: %v; the suggestion is the database itself", dir, err)
	}
	if _, stderr, err := runCmd(t, "compact", "-config", cfg, "-o", m[1]); err != nil {
		t.Fatalf("compact -o %s (as suggested): %v\n%s", m[1], err, stderr)
	}
	if err := store.CheckFile(m[1]); err != nil {
		t.Errorf("the copy: %v", err)
	}
	after, err := os.Stat(db)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("the database was replaced (%v)", err)
	}
}

// -o naming the database itself, by another spelling or a link, is
// refused, as backup refuses it: -o is for a copy that leaves the
// database alone, and it rewrote the database in place, saying
// "(written to webhookd.db)".
func TestCompact_OutputIsTheDatabase(t *testing.T) {
	dir, cfg := offlineConfig(t)
	db := filepath.Join(dir, "webhookd.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink("webhookd.db", link); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{filepath.Join(dir, ".", "webhookd.db"), link} {
		stdout, _, err := runCmd(t, "compact", "-config", cfg, "-o", arg)
		if err == nil || !strings.Contains(err.Error(), "the database itself") {
			t.Errorf("compact -o %s = %q, %v; want it refused as the database itself", arg, stdout, err)
		}
	}
	after, err := os.Stat(db)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("the database was replaced (%v)", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v)", err)
	}
}
