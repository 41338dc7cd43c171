// Package durable holds the one way ncsync makes a directory's entries
// durable by path (for its own files: keys, the index, staged batches). The
// folder writer works on file descriptors instead (package apply).
package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the directory dir, so that the names created, renamed or
// removed in it survive a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	return nil
}
