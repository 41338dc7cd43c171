package lazyfs

import (
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// rootIno is the FUSE node id of the root directory.
const rootIno = fuse.FUSE_ROOT_ID

// fsyncFdatasync is FsyncIn.FsyncFlags for fdatasync.
const fsyncFdatasync = 1

// Stats count the durability calls the file system received.
type Stats struct {
	Fsync, Fdatasync, FsyncDir uint64
}

// tree is the in-memory file system served over FUSE. Every method takes
// mu: the model is small and the calls are short.
type tree struct {
	fuse.RawFileSystem // ENOSYS for what is not implemented here

	mu     sync.Mutex
	inodes map[uint64]*inode
	next   uint64
	ops    []*nsOp             // namespace operations not durable yet, in order
	dirs   map[uint64][]dirent // open directory handles: the listing at opendir
	nextFh uint64
	dead   bool // the power was cut: every call fails with EIO
	stats  Stats
}

type dirent struct {
	name string
	node *inode
}

func newTree() *tree {
	return &tree{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		inodes:        make(map[uint64]*inode),
		next:          rootIno,
		dirs:          make(map[uint64][]dirent),
	}
}

func (t *tree) String() string { return "lazyfs" }

func now() int64 { return time.Now().UnixNano() }

// newInode adds an inode whose durable state is its state at creation
// (a new file is empty, a new directory has no durable entries).
func (t *tree) newInode(a attrs) *inode { return t.newInodeAt(t.next, a) }

// newInodeAt is newInode with a given, unused, number.
func (t *tree) newInodeAt(ino uint64, a attrs) *inode {
	n := &inode{ino: ino, attr: a, durAttr: a}
	t.next = max(t.next, ino+1)
	if n.isDir() {
		n.kids, n.durKids = make(map[string]*inode), make(map[string]*inode)
		n.nlink = 1
	}
	t.inodes[n.ino] = n
	return n
}

// get returns the inode for a node id, or a status to fail with.
func (t *tree) get(id uint64) (*inode, fuse.Status) {
	if t.dead {
		return nil, fuse.EIO
	}
	n, ok := t.inodes[id]
	if !ok {
		return nil, fuse.ENOENT
	}
	return n, fuse.OK
}

func (t *tree) getDir(id uint64) (*inode, fuse.Status) {
	d, st := t.get(id)
	if st == fuse.OK && !d.isDir() {
		return nil, fuse.ENOTDIR
	}
	return d, st
}

func fillAttr(n *inode, a *fuse.Attr) {
	*a = fuse.Attr{
		Ino:     n.ino,
		Mode:    n.attr.mode,
		Nlink:   uint32(max(n.nlink, 1)),
		Owner:   fuse.Owner{Uid: n.attr.uid, Gid: n.attr.gid},
		Rdev:    n.attr.rdev,
		Blksize: pageSize,
	}
	switch {
	case n.isDir():
		a.Nlink = 2
		a.Size = pageSize
	case n.attr.kind() == syscall.S_IFLNK:
		a.Size = uint64(len(n.target))
	default:
		a.Size = uint64(n.data.size)
	}
	a.Blocks = (a.Size + 511) / 512
	a.Atime, a.Atimensec = split(n.attr.atime)
	a.Mtime, a.Mtimensec = split(n.attr.mtime)
	a.Ctime, a.Ctimensec = split(n.attr.ctime)
}

func split(ns int64) (uint64, uint32) {
	return uint64(ns / 1e9), uint32(ns % 1e9)
}

// Attributes are not cached by the kernel: every stat sees the model.
func fillEntry(n *inode, out *fuse.EntryOut) {
	out.NodeId, out.Generation = n.ino, 1
	fillAttr(n, &out.Attr)
}

func (t *tree) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(h.NodeId)
	if st != fuse.OK {
		return st
	}
	n, ok := d.kids[name]
	if !ok {
		return fuse.ENOENT
	}
	fillEntry(n, out)
	return fuse.OK
}

// Forget: inodes live until the unmount, so that a node id stays valid.
func (t *tree) Forget(uint64, uint64) {}

func (t *tree) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return st
	}
	fillAttr(n, &out.Attr)
	return fuse.OK
}

func (t *tree) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return st
	}
	ts := now()
	if m, ok := in.GetMode(); ok {
		n.attr.mode = n.attr.kind() | m
	}
	if u, ok := in.GetUID(); ok {
		n.attr.uid = u
	}
	if g, ok := in.GetGID(); ok {
		n.attr.gid = g
	}
	if sz, ok := in.GetSize(); ok {
		if n.attr.kind() != syscall.S_IFREG {
			return fuse.EINVAL
		}
		n.data.truncate(int64(sz))
		n.attr.mtime = ts
	}
	if m, ok := in.GetMTime(); ok {
		n.attr.mtime = m.UnixNano()
	}
	if a, ok := in.GetATime(); ok {
		n.attr.atime = a.UnixNano()
	}
	n.attr.ctime = ts
	fillAttr(n, &out.Attr)
	return fuse.OK
}

// link adds name → n in d, now and as an operation to make durable.
func (t *tree) link(d *inode, name string, n *inode) {
	d.kids[name] = n
	n.nlink++
	ts := now()
	d.attr.mtime, d.attr.ctime = ts, ts
	n.attr.ctime = max(n.attr.ctime, ts)
	t.ops = append(t.ops, &nsOp{kind: opLink, dir: d, name: name, node: n, ctime: n.attr.ctime})
}

// create makes a new inode named name in the directory id.
func (t *tree) create(h *fuse.InHeader, name string, mode uint32, out *fuse.EntryOut) (*inode, fuse.Status) {
	d, st := t.getDir(h.NodeId)
	if st != fuse.OK {
		return nil, st
	}
	if _, ok := d.kids[name]; ok {
		return nil, fuse.Status(syscall.EEXIST)
	}
	ts := now()
	n := t.newInode(attrs{mode: mode, uid: h.Uid, gid: h.Gid, atime: ts, mtime: ts, ctime: ts})
	t.link(d, name, n)
	fillEntry(n, out)
	return n, fuse.OK
}

func (t *tree) Mknod(_ <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch in.Mode & syscall.S_IFMT {
	case syscall.S_IFREG, syscall.S_IFIFO, syscall.S_IFSOCK:
	default:
		return fuse.EPERM
	}
	_, st := t.create(&in.InHeader, name, in.Mode, out)
	return st
}

func (t *tree) Mkdir(_ <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, st := t.create(&in.InHeader, name, syscall.S_IFDIR|in.Mode&07777, out)
	return st
}

func (t *tree) Symlink(_ <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(h.NodeId)
	if st != fuse.OK {
		return st
	}
	if _, ok := d.kids[name]; ok {
		return fuse.Status(syscall.EEXIST)
	}
	ts := now()
	n := t.newInode(attrs{mode: syscall.S_IFLNK | 0o777, uid: h.Uid, gid: h.Gid, atime: ts, mtime: ts, ctime: ts})
	n.target = target
	t.link(d, name, n)
	fillEntry(n, out)
	return fuse.OK
}

func (t *tree) Readlink(_ <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(h.NodeId)
	if st != fuse.OK {
		return nil, st
	}
	if n.attr.kind() != syscall.S_IFLNK {
		return nil, fuse.EINVAL
	}
	return []byte(n.target), fuse.OK
}

func (t *tree) Link(_ <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(in.NodeId)
	if st != fuse.OK {
		return st
	}
	n, st := t.get(in.Oldnodeid)
	if st != fuse.OK {
		return st
	}
	if n.isDir() {
		return fuse.EPERM
	}
	if _, ok := d.kids[name]; ok {
		return fuse.Status(syscall.EEXIST)
	}
	t.link(d, name, n)
	fillEntry(n, out)
	return fuse.OK
}

// remove drops name from d (unlink or rmdir).
func (t *tree) remove(h *fuse.InHeader, name string, dir bool) fuse.Status {
	d, st := t.getDir(h.NodeId)
	if st != fuse.OK {
		return st
	}
	n, ok := d.kids[name]
	switch {
	case !ok:
		return fuse.ENOENT
	case dir && !n.isDir():
		return fuse.ENOTDIR
	case !dir && n.isDir():
		return fuse.Status(syscall.EISDIR)
	case dir && len(n.kids) > 0:
		return fuse.Status(syscall.ENOTEMPTY)
	}
	t.unlink(d, name)
	return fuse.OK
}

func (t *tree) unlink(d *inode, name string) {
	n := d.kids[name]
	delete(d.kids, name)
	n.nlink--
	ts := now()
	n.attr.ctime = ts
	d.attr.mtime, d.attr.ctime = ts, ts
	t.ops = append(t.ops, &nsOp{kind: opUnlink, dir: d, name: name, node: n, ctime: ts})
}

func (t *tree) Unlink(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remove(h, name, false)
}

func (t *tree) Rmdir(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remove(h, name, true)
}

// renameNoReplace is RENAME_NOREPLACE; RENAME_EXCHANGE and
// RENAME_WHITEOUT are refused.
const renameNoReplace = 1

func (t *tree) Rename(_ <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in.Flags&^renameNoReplace != 0 {
		return fuse.EINVAL
	}
	src, st := t.getDir(in.NodeId)
	if st != fuse.OK {
		return st
	}
	dst, st := t.getDir(in.Newdir)
	if st != fuse.OK {
		return st
	}
	n, ok := src.kids[oldName]
	if !ok {
		return fuse.ENOENT
	}
	if old, ok := dst.kids[newName]; ok {
		switch {
		case old == n:
			return fuse.OK
		case in.Flags&renameNoReplace != 0:
			return fuse.Status(syscall.EEXIST)
		case old.isDir() && !n.isDir():
			return fuse.Status(syscall.EISDIR)
		case !old.isDir() && n.isDir():
			return fuse.ENOTDIR
		case old.isDir() && len(old.kids) > 0:
			return fuse.Status(syscall.ENOTEMPTY)
		}
		// Replaced within the same operation: no separate unlink.
		delete(dst.kids, newName)
		old.nlink--
	}
	delete(src.kids, oldName)
	dst.kids[newName] = n
	ts := now()
	n.attr.ctime = ts
	src.attr.mtime, src.attr.ctime = ts, ts
	dst.attr.mtime, dst.attr.ctime = ts, ts
	t.ops = append(t.ops, &nsOp{kind: opRename, dir: src, name: oldName, node: n, dir2: dst, name2: newName, ctime: ts})
	return fuse.OK
}

func (t *tree) Access(_ <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, st := t.get(in.NodeId)
	return st
}

func (t *tree) Create(_ <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(in.NodeId)
	if st != fuse.OK {
		return st
	}
	if n, ok := d.kids[name]; ok {
		if in.Flags&syscall.O_EXCL != 0 {
			return fuse.Status(syscall.EEXIST)
		}
		if n.isDir() {
			return fuse.Status(syscall.EISDIR)
		}
		t.truncateOnOpen(n, in.Flags)
		fillEntry(n, &out.EntryOut)
		return fuse.OK
	}
	_, st = t.create(&in.InHeader, name, syscall.S_IFREG|in.Mode&07777, &out.EntryOut)
	return st
}

func (t *tree) truncateOnOpen(n *inode, flags uint32) {
	if flags&syscall.O_TRUNC != 0 && n.attr.kind() == syscall.S_IFREG && n.data.size > 0 {
		n.data.truncate(0)
		ts := now()
		n.attr.mtime, n.attr.ctime = ts, ts
	}
}

func (t *tree) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return st
	}
	if n.isDir() {
		return fuse.Status(syscall.EISDIR)
	}
	t.truncateOnOpen(n, in.Flags)
	return fuse.OK
}

func (t *tree) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return nil, st
	}
	k := n.data.readAt(buf[:min(len(buf), int(in.Size))], int64(in.Offset))
	return fuse.ReadResultData(buf[:k]), fuse.OK
}

func (t *tree) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return 0, st
	}
	n.data.writeAt(data, int64(in.Offset))
	ts := now()
	n.attr.mtime, n.attr.ctime = ts, ts
	return uint32(len(data)), fuse.OK
}

func (t *tree) Fallocate(_ <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return st
	}
	if in.Mode != 0 {
		return fuse.ENOTSUP
	}
	if end := int64(in.Offset + in.Length); end > n.data.size {
		n.data.truncate(end)
		n.attr.ctime = now()
	}
	return fuse.OK
}

func (t *tree) Flush(_ <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, st := t.get(in.NodeId)
	return st
}

func (t *tree) Release(<-chan struct{}, *fuse.ReleaseIn) {}

// Fsync makes a file's data and size durable, and with fsync (not
// fdatasync) its metadata.
func (t *tree) Fsync(_ <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, st := t.get(in.NodeId)
	if st != fuse.OK {
		return st
	}
	if n.isDir() { // an fsync of a directory opened with open(2)
		t.syncDir(n)
		return fuse.OK
	}
	n.durData = n.data.snapshot()
	if in.FsyncFlags&fsyncFdatasync != 0 {
		t.stats.Fdatasync++
	} else {
		t.stats.Fsync++
		n.durAttr = n.attr
	}
	return fuse.OK
}

func (t *tree) FsyncDir(_ <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(in.NodeId)
	if st != fuse.OK {
		return st
	}
	t.syncDir(d)
	return fuse.OK
}

// syncDir makes d's metadata and every namespace operation in d durable,
// in the order they were made.
func (t *tree) syncDir(d *inode) {
	t.stats.FsyncDir++
	d.durAttr = d.attr
	kept := t.ops[:0]
	for _, op := range t.ops {
		if op.involves(d) {
			op.replay()
		} else {
			kept = append(kept, op)
		}
	}
	clear(t.ops[len(kept):])
	t.ops = kept
}

func (t *tree) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, st := t.getDir(in.NodeId)
	if st != fuse.OK {
		return st
	}
	list := make([]dirent, 0, len(d.kids))
	for name, n := range d.kids {
		list = append(list, dirent{name, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	t.nextFh++
	t.dirs[t.nextFh] = list
	out.Fh = t.nextFh
	return fuse.OK
}

// readDir lists the handle's entries from in.Offset (an index into the
// listing taken at opendir).
func (t *tree) readDir(in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return fuse.EIO
	}
	list, ok := t.dirs[in.Fh]
	if !ok {
		return fuse.EBADF
	}
	for i := int(in.Offset); i < len(list); i++ {
		e := fuse.DirEntry{Name: list[i].name, Mode: list[i].node.attr.mode, Ino: list[i].node.ino, Off: uint64(i + 1)}
		if !plus {
			if !out.AddDirEntry(e) {
				break
			}
			continue
		}
		eo := out.AddDirLookupEntry(e)
		if eo == nil {
			break
		}
		fillEntry(list[i].node, eo)
	}
	return fuse.OK
}

func (t *tree) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return t.readDir(in, out, false)
}

func (t *tree) ReadDirPlus(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return t.readDir(in, out, true)
}

func (t *tree) ReleaseDir(in *fuse.ReleaseIn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.dirs, in.Fh)
}

func (t *tree) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	*out = fuse.StatfsOut{Blocks: 1 << 24, Bfree: 1 << 23, Bavail: 1 << 23, Files: 1 << 20, Ffree: 1 << 19,
		Bsize: pageSize, Frsize: pageSize, NameLen: 255}
	return fuse.OK
}

// syncAll makes everything durable, as an orderly shutdown does.
func (t *tree) syncAll() {
	for _, n := range t.inodes {
		n.durAttr = n.attr
		n.durData = n.data.snapshot()
		if n.isDir() {
			n.durKids = make(map[string]*inode, len(n.kids))
			for k, v := range n.kids {
				n.durKids[k] = v
			}
		}
	}
	t.ops = nil
}
