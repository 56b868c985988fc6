package config

import "errors"

// notifier is the operating system's change events for a set of watched
// paths: directories, whose entries coming and going count (a file
// created, removed, renamed, its attributes changed, or closed after a
// write), and files, whose contents count too. A directory watch does not
// report writes to the files in it where the system can leave them out
// (Linux): the database beside the config writes all the time, and each of
// its page writes would be an event to read and throw away.
type notifier interface {
	AddDir(path string) error
	AddFile(path string) error
	Remove(path string) error
	// Events delivers the path of each change: a directory's entry, or a
	// watched file.
	Events() <-chan string
	// Errors delivers errors of the watch; events may have been lost.
	Errors() <-chan error
	Close() error
}

// errNotWatched is Remove's error for a path that is not watched.
var errNotWatched = errors.New("not watched")
