package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
