package certs

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// Close frees the address of an HTTPServer bound and never served (a
// start that failed after acme_http was bound), and ends Serve on one that
// serves. One never opened has nothing to close.
func TestHTTPServer_Close(t *testing.T) {
	if err := NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), nil).Close(); err != nil {
		t.Errorf("Close of a server never opened: %v", err)
	}

	s := NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), nil)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address of a server closed before it served: %v", err)
	}
	l.Close()

	s = NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), nil)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	res, err := http.Get("http://" + s.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after Close: %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5s of Close")
	}
}
