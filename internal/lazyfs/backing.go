package lazyfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A power loss keeps inode numbers and change times, which a program may
// have recorded (ncsync does, to tell its own writes from local changes).
// The backing directory cannot hold them: they are kept beside it, in a
// file of the same name with this suffix, by path ("" is the root).
const inodesSuffix = ".lazyfs-inodes"

type inodeRecord struct {
	Ino   uint64 `json:"ino"`
	Ctime int64  `json:"ctime"`
}

// load reads the backing directory into the tree, all of it durable.
func (t *tree) load(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("not a directory")
	}
	l := &loader{t: t, seen: map[uint64]*inode{}, kept: map[string]inodeRecord{}}
	if b, err := os.ReadFile(dir + inodesSuffix); err == nil {
		if err := json.Unmarshal(b, &l.kept); err != nil {
			return fmt.Errorf("%s: %w", dir+inodesSuffix, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, r := range l.kept {
		t.next = max(t.next, r.Ino+1)
	}
	// The root is always node 1.
	root := t.newInodeAt(rootIno, l.attrs("", &st))
	if err := l.loadDir(root, dir, ""); err != nil {
		return err
	}
	t.syncAll()
	return nil
}

type loader struct {
	t    *tree
	seen map[uint64]*inode // backing inode → ours, for hard links
	kept map[string]inodeRecord
}

// attrs are st's, with the change time kept for rel if there is one.
func (l *loader) attrs(rel string, st *unix.Stat_t) attrs {
	a := attrsOf(st)
	if r, ok := l.kept[rel]; ok {
		a.ctime = r.Ctime
	}
	return a
}

// node makes the inode for rel, with the number kept for it if any.
func (l *loader) node(rel string, st *unix.Stat_t) *inode {
	if r, ok := l.kept[rel]; ok && r.Ino != rootIno {
		if _, used := l.t.inodes[r.Ino]; !used {
			return l.t.newInodeAt(r.Ino, l.attrs(rel, st))
		}
	}
	return l.t.newInodeAt(l.t.next, l.attrs(rel, st))
}

func attrsOf(st *unix.Stat_t) attrs {
	return attrs{mode: st.Mode, uid: st.Uid, gid: st.Gid, rdev: uint32(st.Rdev),
		atime: st.Atim.Nano(), mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

func (l *loader) loadDir(d *inode, path, rel string) error {
	ents, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(path, e.Name())
		r := e.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if n, ok := l.seen[st.Ino]; ok && st.Nlink > 1 {
			d.kids[e.Name()] = n
			n.nlink++
			continue
		}
		n := l.node(r, &st)
		d.kids[e.Name()] = n
		n.nlink++
		l.seen[st.Ino] = n
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if err := l.loadDir(n, p, r); err != nil {
				return err
			}
		case syscall.S_IFLNK:
			if n.target, err = os.Readlink(p); err != nil {
				return err
			}
		case syscall.S_IFREG:
			if err := loadFile(&n.data, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadFile reads a file into c, leaving pages of zeros as holes.
func loadFile(c *content, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var buf page
	for off := int64(0); ; off += pageSize {
		k, err := io.ReadFull(f, buf[:])
		if k > 0 {
			if buf != (page{}) {
				c.writeAt(buf[:k], off)
			} else {
				c.truncate(off + int64(k))
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// store replaces the backing directory's contents with the durable tree.
func (t *tree) store(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	root := t.inodes[rootIno]
	written := map[*inode]string{}
	kept := map[string]inodeRecord{"": {Ino: root.ino, Ctime: root.durAttr.ctime}}
	if err := storeDir(root, dir, "", written, kept); err != nil {
		return err
	}
	if err := setAttrs(dir, root.durAttr); err != nil {
		return err
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	return os.WriteFile(dir+inodesSuffix, b, 0o600)
}

func storeDir(d *inode, path, rel string, written map[*inode]string, kept map[string]inodeRecord) error {
	for name, n := range d.durKids {
		p := filepath.Join(path, name)
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		kept[r] = inodeRecord{Ino: n.ino, Ctime: n.durAttr.ctime}
		if first, ok := written[n]; ok {
			if err := os.Link(first, p); err != nil {
				return err
			}
			continue
		}
		written[n] = p
		var err error
		switch n.durAttr.kind() {
		case syscall.S_IFDIR:
			if err = os.Mkdir(p, 0o700); err == nil {
				err = storeDir(n, p, r, written, kept)
			}
		case syscall.S_IFLNK:
			err = os.Symlink(n.target, p)
		case syscall.S_IFREG:
			err = storeFile(&n.durData, p)
		default:
			err = unix.Mknod(p, n.durAttr.mode, int(n.durAttr.rdev))
		}
		if err != nil {
			return err
		}
		if err := setAttrs(p, n.durAttr); err != nil {
			return err
		}
	}
	return nil
}

func storeFile(c *content, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	for i, p := range c.pages {
		if p == nil {
			continue
		}
		off := int64(i) * pageSize
		if _, err := f.WriteAt(p[:min(pageSize, c.size-off)], off); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(c.size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// setAttrs sets owner, mode and times of path without following a symlink.
func setAttrs(path string, a attrs) error {
	if err := unix.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return err
	}
	if a.kind() != syscall.S_IFLNK {
		if err := unix.Chmod(path, a.mode&07777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(a.atime), unix.NsecToTimespec(a.mtime)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
}
