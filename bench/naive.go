package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// runNaive serves the reference point issue 8 measured webhookd's design
// against: a naive verify-then-group-commit handler. It checks the GitHub
// signature, hands the body to a single writer that yields once, drains
// what is queued and puts each body under a sequence number in one bbolt
// transaction, and answers 202 once that transaction is committed. No
// de-duplication index, no jobs, no headers, no counters, no log line: the
// least a durable acknowledgement costs with bbolt and net/http.
func runNaive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	dbPath := fs.String("db", "", "bbolt file to write (created)")
	secret := fs.String("secret", benchSecret, "the GitHub secret deliveries are signed with")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *dbPath == "" {
		return &usageError{"naive -db FILE [-addr ADDR] [-secret S]"}
	}
	w, err := openNaiveWriter(*dbPath)
	if err != nil {
		return err
	}
	defer w.Close()

	ln, err := listenLoopback(*addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           &naiveHandler{secret: []byte(*secret), w: w},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stderr, "msg=listening addr=%s\n", ln.Addr())
	return serveUntil(ctx, srv, ln)
}

type naiveOp struct {
	body []byte
	done chan error
}

// naiveWriter is the single writer: one transaction per drained batch.
type naiveWriter struct {
	db   *bolt.DB
	ops  chan *naiveOp
	seq  uint64
	stop context.CancelFunc
	done chan struct{}
}

// openNaiveWriter opens (creating) a bbolt file with the store's options
// and starts its writer; Close stops the writer and closes the file.
func openNaiveWriter(path string) (*naiveWriter, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("events"))
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &naiveWriter{db: db, ops: make(chan *naiveOp, 4096), stop: stop, done: make(chan struct{})}
	go func() { defer close(w.done); w.loop(ctx) }()
	return w, nil
}

// put writes v under the next sequence number and returns once that is
// committed.
func (w *naiveWriter) put(v []byte) error {
	op := &naiveOp{body: v, done: make(chan error, 1)}
	w.ops <- op
	return <-op.done
}

func (w *naiveWriter) Close() error {
	w.stop()
	<-w.done
	return w.db.Close()
}

func (w *naiveWriter) loop(ctx context.Context) {
	batch := make([]*naiveOp, 0, 2048)
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-ctx.Done():
			return
		}
		runtime.Gosched()
	drain:
		for len(batch) < cap(batch) {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		err := w.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			for _, op := range batch {
				w.seq++
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], w.seq)
				if err := b.Put(k[:], op.body); err != nil {
					return err
				}
			}
			return nil
		})
		for _, op := range batch {
			op.done <- err
		}
	}
}

// naiveHandler verifies X-Hub-Signature-256 and waits for the commit.
type naiveHandler struct {
	secret []byte
	w      *naiveWriter
}

func (h *naiveHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, "read", http.StatusBadRequest)
		return
	}
	sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	got, err := hex.DecodeString(sig)
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if !ok || err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	if err := h.w.put(body); err != nil {
		http.Error(rw, "store", http.StatusServiceUnavailable)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusAccepted)
	io.WriteString(rw, `{"ok":true}`+"\n")
}
