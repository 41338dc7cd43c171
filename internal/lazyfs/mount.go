package lazyfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FS is a mounted lazy file system.
type FS struct {
	backing, mountpoint string
	t                   *tree
	server              *fuse.Server
	closed              bool
}

// Available says why a lazy file system cannot be mounted here (nil if it
// can): mounting needs root (it mounts directly, without fusermount) and
// /dev/fuse.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("mounting FUSE directly needs root")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("no usable /dev/fuse: %w", err)
	}
	f.Close()
	return nil
}

// Mount reads the backing directory and mounts it at mountpoint, all of it
// durable.
func Mount(backing, mountpoint string) (*FS, error) {
	t := newTree()
	if err := t.load(backing); err != nil {
		return nil, fmt.Errorf("lazyfs: load %q: %w", backing, err)
	}
	srv, err := fuse.NewServer(t, mountpoint, &fuse.MountOptions{
		AllowOther: true,
		// The kernel checks permissions from the modes, as a local file
		// system does.
		Options:       []string{"default_permissions"},
		FsName:        "lazyfs",
		Name:          "lazyfs",
		DirectMount:   true,
		DisableXAttrs: true,
		MaxWrite:      1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mount %q: %w", mountpoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("lazyfs: mount %q: %w", mountpoint, err)
	}
	return &FS{backing: backing, mountpoint: mountpoint, t: t, server: srv}, nil
}

// Stats returns the durability calls received so far.
func (f *FS) Stats() Stats {
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	return f.t.stats
}

// Cut cuts the power: from now on every call on the mount fails with EIO,
// the backing directory is rewritten to hold only what was durable, and
// the file system is unmounted (detached if a process still holds it: it
// goes away when that process does).
func (f *FS) Cut() error {
	f.t.mu.Lock()
	f.t.dead = true
	err := f.t.store(f.backing)
	f.t.mu.Unlock()
	if uerr := f.unmount(1); err == nil {
		err = uerr
	}
	return err
}

// Unmount makes everything durable, writes it to the backing directory and
// unmounts, as an orderly shutdown does.
func (f *FS) Unmount() error {
	f.t.mu.Lock()
	if f.t.dead {
		f.t.mu.Unlock()
		return f.unmount(20)
	}
	f.t.syncAll()
	err := f.t.store(f.backing)
	f.t.dead = true
	f.t.mu.Unlock()
	if uerr := f.unmount(20); err == nil {
		err = uerr
	}
	return err
}

// unmount tries a plain unmount up to tries times, then a lazy one.
func (f *FS) unmount(tries int) error {
	if f.closed {
		return nil
	}
	f.closed = true
	// A plain unmount fails while a file is open on the mount; a lazy one
	// always succeeds, and the server's loop ends with the last user.
	for i := range tries {
		if err := syscall.Unmount(f.mountpoint, 0); err == nil {
			f.server.Wait()
			return nil
		}
		if i < tries-1 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := syscall.Unmount(f.mountpoint, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("lazyfs: unmount %q: %w", f.mountpoint, err)
	}
	return nil
}
