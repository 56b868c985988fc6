package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// offlineConfig writes a config whose database is a real store with one
// event in it, and whose admin socket nothing listens on: no daemon runs.
func offlineConfig(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	st, err := store.Open(filepath.Join(dir, "webhookd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Delivery: "d-1", Received: time.Now(), Body: []byte(`{"ref":"main"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "webhookd.toml")
	text := "[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"unix:" + filepath.Join(dir, "admin.sock") + "\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// Flags may follow FILE, as they may follow the arguments of every other
// command (`webhookd backup copy.db -config /etc/webhookd/webhookd.toml`).
func TestBackup_FlagsAfterFile(t *testing.T) {
	dir, cfg := offlineConfig(t)
	out := filepath.Join(dir, "copy.db")
	stdout, stderr, err := runCmd(t, "backup", out, "-config", cfg, "-json")
	if err != nil {
		t.Fatalf("backup FILE -config CFG -json: %v\n%s", err, stderr)
	}
	var got BackupJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.File != out || got.From != "file" {
		t.Errorf("backup -json printed %q (%v)", stdout, err)
	}
	if err := store.CheckFile(out); err != nil {
		t.Errorf("the copy: %v", err)
	}
}

// A FILE that is a directory is refused before any copying, saying so and
// what to give instead, and leaves nothing behind (it was a rename's
// "file exists" after the whole copy).
func TestBackup_IntoDirectory(t *testing.T) {
	dir, cfg := offlineConfig(t)
	sub := filepath.Join(dir, "backups")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{sub, sub + "/"} {
		_, _, err := runCmd(t, "backup", "-config", cfg, arg)
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("backup %s: %v; want it called a directory", arg, err)
		}
	}
	for _, d := range []string{dir, sub} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".partial-") {
				t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// Ctrl-C during a backup of the file (no daemon) stops the copy: nothing
// is written to FILE, no partial file is left, and the error says why. (It
// ran to the end and exited 0, holding the file's lock, which a daemon
// starting meanwhile waits for, the whole time.)
func TestBackup_OfflineInterrupted(t *testing.T) {
	dir, cfg := offlineConfig(t)
	if err := os.WriteFile(cfg, []byte("[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"off\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "copy.db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if Ctrl-C came before the first page was written
	var o, e strings.Builder
	env := &Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }}
	err := Find("backup").Run(ctx, env, []string{"-config", cfg, out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("backup with its context cancelled = %v (stdout %q); want context.Canceled", err, o.String())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "copy.db*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// suggested is the file an error names after "such as ".
var suggested = regexp.MustCompile(`such as (\S+)$`)

// A directory given as FILE is refused with a file to give instead; in the
// database's own directory that must not be the database (the user who
// took the advice was refused again: "is the database itself"), and the
// suggestion, followed, makes the copy.
func TestBackup_IntoDatabaseDirectorySuggestsAnotherFile(t *testing.T) {
	dir, cfg := offlineConfig(t)
	_, _, err := runCmd(t, "backup", "-config", cfg, dir)
	if err == nil {
		t.Fatalf("backup %s: no error", dir)
	}
	m := suggested.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("backup %s: %v; want a file suggested", dir, err)
	}
	if m[1] == filepath.Join(dir, "webhookd.db") {
		t.Fatalf("backup %s: %v; the suggestion is the database itself", dir, err)
	}
	if _, stderr, err := runCmd(t, "backup", "-config", cfg, m[1]); err != nil {
		t.Fatalf("backup %s (as suggested): %v\n%s", m[1], err, stderr)
	}
	if err := store.CheckFile(m[1]); err != nil {
		t.Errorf("the copy: %v", err)
	}
}
