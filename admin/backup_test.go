package admin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestAPI_BackupStalledReader: a backup client that stops reading is cut
// off after the stall time, so that its read transaction, which keeps
// bbolt from growing the file, does not hold up deliveries without end. A
// client that reads on gets all of it.
func TestAPI_BackupStalledReader(t *testing.T) {
	e := newEnv(t, "s3cret")
	e.srv.opts.BackupStall = 300 * time.Millisecond
	big := strings.Repeat("x", 100<<10)
	for range 150 { // ~15 MB: more than the sockets' buffers hold
		e.ingest("site", "push", `{"ref":"`+big+`"}`)
	}
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/backup = %v, %v", res, err)
	}
	time.Sleep(2 * time.Second) // read nothing, well past the stall time
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := io.Copy(io.Discard, res.Body)
	if n >= res.ContentLength {
		t.Errorf("a client that stopped reading for 2s got the whole copy (%d bytes): it was not cut off", n)
	}
}

// TestAPI_BackupHead: HEAD /api/backup answers the headers a GET sends —
// the same type, disposition and caching, and the Content-Length the copy
// would have — with no body, and without making the copy: a HEAD read the
// whole database in its read transaction (and threw it away).
func TestAPI_BackupHead(t *testing.T) {
	e := newEnv(t, "s3cret")
	big := strings.Repeat("x", 64<<10)
	for range 40 { // a few MB
		e.ingest("site", "push", `{"ref":"`+big+`"}`)
	}
	if code, _ := e.call("HEAD", "/api/backup", "", nil); code != http.StatusUnauthorized {
		t.Errorf("HEAD /api/backup without the token = %d; want 401, as a GET", code)
	}

	// Over a real connection: the status and headers, then nothing.
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "HEAD /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("HEAD /api/backup sent %d bytes after its headers", len(rest))
	}
	if head.StatusCode != 200 {
		t.Fatalf("HEAD /api/backup = %d", head.StatusCode)
	}
	size, err := strconv.ParseInt(head.Header.Get("Content-Length"), 10, 64)
	if err != nil || size < 40*64<<10 {
		t.Fatalf("HEAD /api/backup Content-Length %q (%v); want the database's size", head.Header.Get("Content-Length"), err)
	}

	// The GET that follows (nothing was written between) sends the same.
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/backup", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || n != size {
		t.Fatalf("GET /api/backup after the HEAD: %d, %d bytes (%v); the HEAD said %d", res.StatusCode, n, err, size)
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Content-Disposition", "Cache-Control"} {
		if got, want := head.Header.Get(h), res.Header.Get(h); got != want || want == "" {
			t.Errorf("HEAD %s: %q; GET: %q", h, got, want)
		}
	}

	// The handler itself: a HEAD writes none of the copy (the server
	// would discard what it wrote, after reading the whole file for it).
	w := httptest.NewRecorder()
	hreq := httptest.NewRequest("HEAD", "/api/backup", nil)
	hreq.Host = "127.0.0.1"
	hreq.Header.Set("Authorization", "Bearer s3cret")
	e.srv.ServeHTTP(w, hreq)
	if w.Code != 200 || w.Header().Get("Content-Length") != strconv.FormatInt(size, 10) {
		t.Errorf("HEAD through the handler: %d, Content-Length %q; want 200, %d", w.Code, w.Header().Get("Content-Length"), size)
	}
	if w.Body.Len() != 0 {
		t.Errorf("a HEAD made the copy: the handler wrote %d bytes of it", w.Body.Len())
	}
}
