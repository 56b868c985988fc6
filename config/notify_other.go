//go:build !linux

package config

import (
	"errors"

	"github.com/fsnotify/fsnotify"
)

// fsnotifier is the notifier where there is no inotify: fsnotify, whose
// directory watches report writes to the files in them as well.
type fsnotifier struct {
	w      *fsnotify.Watcher
	events chan string
	done   chan struct{}
}

func newNotifier() (notifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := &fsnotifier{w: w, events: make(chan string, 64), done: make(chan struct{})}
	go n.read()
	return n, nil
}

func (n *fsnotifier) read() {
	defer close(n.events)
	for {
		select {
		case ev, ok := <-n.w.Events:
			if !ok {
				return
			}
			select {
			case n.events <- ev.Name:
			case <-n.done:
				return
			}
		case <-n.done:
			return
		}
	}
}

func (n *fsnotifier) AddDir(path string) error  { return n.w.Add(path) }
func (n *fsnotifier) AddFile(path string) error { return n.w.Add(path) }

func (n *fsnotifier) Remove(path string) error {
	err := n.w.Remove(path)
	if errors.Is(err, fsnotify.ErrNonExistentWatch) {
		return errNotWatched
	}
	return err
}

func (n *fsnotifier) Events() <-chan string { return n.events }
func (n *fsnotifier) Errors() <-chan error  { return n.w.Errors }

func (n *fsnotifier) Close() error {
	close(n.done)
	return n.w.Close()
}
