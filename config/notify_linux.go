package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What each kind of watch asks inotify for. A directory's watch leaves out
// IN_MODIFY, which the kernel queues for every write to any file in it;
// a watched file's own watch has it.
const (
	dirMask  = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
)

// inotify is the notifier on Linux.
type inotify struct {
	f      *os.File // the inotify descriptor, read through the poller
	events chan string
	errors chan error
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	paths  map[int32][]string // a watch's paths (names of one inode)
	wds    map[string]int32
}

func newNotifier() (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	n := &inotify{
		f:      os.NewFile(uintptr(fd), "inotify"),
		events: make(chan string, 64),
		errors: make(chan error, 1),
		done:   make(chan struct{}),
		paths:  map[int32][]string{},
		wds:    map[string]int32{},
	}
	n.wg.Add(1)
	go n.read()
	return n, nil
}

func (n *inotify) Events() <-chan string { return n.events }
func (n *inotify) Errors() <-chan error  { return n.errors }

func (n *inotify) AddDir(path string) error  { return n.add(path, dirMask) }
func (n *inotify) AddFile(path string) error { return n.add(path, fileMask) }

func (n *inotify) add(path string, mask uint32) error {
	path = filepath.Clean(path)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("watch %s: %w", path, os.ErrClosed)
	}
	var wd int
	err := n.control(func(fd int) error {
		var err error
		wd, err = unix.InotifyAddWatch(fd, path, mask)
		return err
	})
	if err != nil {
		return &os.PathError{Op: "watch", Path: path, Err: err}
	}
	if old, ok := n.wds[path]; ok && old != int32(wd) && n.forget(path, old) == 0 {
		// The name is another file's now; the old one's watch goes.
		_ = n.control(func(fd int) error {
			_, err := unix.InotifyRmWatch(fd, uint32(old))
			return err
		})
	}
	n.wds[path] = int32(wd)
	for _, p := range n.paths[int32(wd)] {
		if p == path {
			return nil
		}
	}
	// Another name of an inode already watched gets the same descriptor
	// (and the mask given last).
	n.paths[int32(wd)] = append(n.paths[int32(wd)], path)
	return nil
}

func (n *inotify) Remove(path string) error {
	path = filepath.Clean(path)
	n.mu.Lock()
	defer n.mu.Unlock()
	wd, ok := n.wds[path]
	if !ok || n.closed {
		return fmt.Errorf("unwatch %s: %w", path, errNotWatched)
	}
	if n.forget(path, wd) > 0 {
		return nil // the inode is still watched under another name
	}
	err := n.control(func(fd int) error {
		_, err := unix.InotifyRmWatch(fd, uint32(wd))
		return err
	})
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: the inode went, and its watch with it
		return &os.PathError{Op: "unwatch", Path: path, Err: err}
	}
	return nil
}

// forget drops path from watch wd and returns how many paths the watch
// still has. n.mu is held.
func (n *inotify) forget(path string, wd int32) int {
	delete(n.wds, path)
	ps := n.paths[wd]
	for i, p := range ps {
		if p == path {
			ps = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(ps) == 0 {
		delete(n.paths, wd)
	} else {
		n.paths[wd] = ps
	}
	return len(ps)
}

// control runs fn on the inotify descriptor.
func (n *inotify) control(fn func(fd int) error) error {
	rc, err := n.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (n *inotify) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	close(n.done)
	err := n.f.Close() // wakes the read
	n.wg.Wait()
	return err
}

// read turns the descriptor's records into paths until it is closed.
func (n *inotify) read() {
	defer n.wg.Done()
	defer close(n.events)
	buf := make([]byte, 64<<10)
	for {
		k, err := n.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				n.fail(fmt.Errorf("read inotify: %w", err))
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameAt := off + unix.SizeofInotifyEvent
			end := nameAt + int(ev.Len)
			if end > k {
				break // cannot happen: the kernel writes whole records
			}
			name := string(buf[nameAt:end])
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			off = end
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				n.fail(errors.New("inotify queue overflowed: events were lost"))
				continue
			}
			for _, p := range n.names(ev.Wd, ev.Mask, name) {
				select {
				case n.events <- p:
				case <-n.done:
					return
				}
			}
		}
	}
}

// names are the paths an event concerns; an event that ends a watch
// (IN_IGNORED: removed, or its inode is gone) drops it.
func (n *inotify) names(wd int32, mask uint32, name string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := n.paths[wd]
	if mask&unix.IN_IGNORED != 0 {
		for _, p := range ps {
			delete(n.wds, p)
		}
		delete(n.paths, wd)
		return nil
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if name != "" {
			p = filepath.Join(p, name)
		}
		out = append(out, p)
	}
	return out
}

func (n *inotify) fail(err error) {
	select {
	case n.errors <- err:
	default: // one unread error says as much
	}
}
