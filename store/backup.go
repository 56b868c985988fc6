package store

import (
	"io"

	bolt "go.etcd.io/bbolt"
)

// BackupStream writes a consistent copy of the database to w from one
// read transaction, like Backup, and first tells size how many bytes the
// copy will be (an HTTP handler's Content-Length). Writers go on
// meanwhile; but bbolt cannot grow its memory map while a read
// transaction is open, so a slow reader can hold up a write that needs
// the file to grow.
func (s *Store) BackupStream(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupSize is how many bytes a copy made now would be (what BackupStream
// tells size), from a read transaction held only to ask: an HTTP HEAD's
// Content-Length, without the copy.
func (s *Store) BackupSize() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
