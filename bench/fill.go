package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/store"
)

// runFill builds a store with a backlog through the store package (not
// over HTTP): n events of hook, each with one pending job of action; or,
// with -history, with one job recorded skipped (as a when that is false
// leaves it), so that the store holds history and no backlog.
func runFill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fill", flag.ContinueOnError)
	path := fs.String("db", "", "database file to create or add to")
	n := fs.Int("n", 1_000_000, "events (each with one pending job)")
	history := fs.Bool("history", false, "record each event's job skipped: a store of past events, with nothing queued")
	ids := fs.String("ids", "seq", idsUsage)
	hook := fs.String("hook", "bench", "hook id")
	action := fs.String("action", "run", "action name")
	conc := fs.Int("concurrency", 1, "the action's concurrency (its queue's window)")
	keys := fs.Int("keys", 1, "distinct queue keys, spread round-robin (1: one queue)")
	size := fs.Int("size", 256, "body size in bytes")
	workers := fs.Int("workers", 128, "concurrent writers (they share commits)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *path == "" || *n < 0 || *keys < 1 || *workers < 1 {
		return &usageError{"fill: -db is required; -n >= 0, -keys >= 1, -workers >= 1"}
	}
	random, err := parseIDs(*ids)
	if err != nil {
		return err
	}
	skip := ""
	if *history {
		skip = "when is false (webhookd-bench fill -history)"
	}
	st, err := store.Open(*path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	body := make([]byte, max(*size, 2))
	body[0], body[len(body)-1] = '{', '}'
	for i := 1; i < len(body)-1; i++ {
		body[i] = ' '
	}
	var next, done atomic.Int64
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d := done.Load()
				fmt.Fprintf(stderr, "fill: %d of %d events (%.0f/s)\n", d, *n, float64(d)/time.Since(start).Seconds())
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)
	var wg sync.WaitGroup
	errc := make(chan error, *workers)
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		var idSrc *mrand.ChaCha8
		if random {
			idSrc = newIDSource()
		}
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				key := ""
				if *keys > 1 {
					key = "k" + strconv.FormatInt(i%int64(*keys), 10)
				}
				delivery := fmt.Sprintf("fill-%d-%d", start.UnixNano(), i)
				if idSrc != nil {
					delivery = randomUUID(idSrc)
				}
				_, err := st.Ingest(ctx, &store.NewEvent{
					Hook: *hook, Type: "push", Delivery: delivery,
					Received: time.Now(), Remote: "127.0.0.1", ContentType: "application/json",
					Header: http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {"push"}},
					Body:   body,
					Jobs:   []store.NewJob{{Action: *action, Key: key, Concurrency: *conc, Skip: skip}},
				})
				if err != nil {
					errc <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := st.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fill: %d events in %s; jobs pending %d, skipped %d; file %d MiB\n",
		done.Load(), time.Since(start).Round(time.Millisecond), s.Jobs[store.Pending], s.Jobs[store.Skipped], s.FileSize>>20)
	return st.Close()
}
