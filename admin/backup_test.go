package admin

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/webhookd/webhookd/store"
)

func TestAPI_Backup(t *testing.T) {
	e := newEnv(t, "s3cret")
	var ids []string
	for range 20 {
		ids = append(ids, e.ingest("site", "push", `{"ref":"refs/heads/main"}`))
	}
	if code, _ := e.call("GET", "/api/backup", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/backup without the token = %d; want 401", code)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/backup", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET /api/backup = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cl, _ := strconv.Atoi(res.Header.Get("Content-Length")); cl != len(b) || cl == 0 {
		t.Errorf("Content-Length %s, body %d bytes", res.Header.Get("Content-Length"), len(b))
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.CheckFile(path); err != nil {
		t.Fatalf("the copy fails bbolt's check: %v", err)
	}
	cp, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	for _, id := range ids {
		if _, err := cp.GetEvent(id, true); err != nil {
			t.Errorf("event %s in the copy: %v", id, err)
		}
	}
}
