package lazyfs

import (
	"syscall"
)

// pageSize is the unit of copy-on-write between a file's current and
// durable contents: a sync copies page pointers, not bytes.
const pageSize = 4096

type page = [pageSize]byte

// content is a file's bytes: pages (nil for a hole) and a size. Pages are
// shared between a current content and the durable copies taken from it;
// own marks the pages the current content may write in place.
type content struct {
	pages []*page
	own   []bool
	size  int64
}

// snapshot returns a frozen copy for the durable state and makes every
// page shared, so that the next write to it copies it first.
func (c *content) snapshot() content {
	clear(c.own)
	return content{pages: append([]*page(nil), c.pages...), size: c.size}
}

// clone returns a copy that owns none of its pages.
func (c content) clone() content {
	return content{pages: append([]*page(nil), c.pages...), own: make([]bool, len(c.pages)), size: c.size}
}

func (c *content) readAt(b []byte, off int64) int {
	if off >= c.size {
		return 0
	}
	n := min(int64(len(b)), c.size-off)
	for done := int64(0); done < n; {
		i, o := (off+done)/pageSize, (off+done)%pageSize
		k := min(n-done, pageSize-o)
		if p := c.pages[i]; p != nil {
			copy(b[done:done+k], p[o:o+k])
		} else {
			clear(b[done : done+k])
		}
		done += k
	}
	return int(n)
}

func (c *content) writeAt(b []byte, off int64) {
	end := off + int64(len(b))
	c.grow(end)
	for done := int64(0); done < int64(len(b)); {
		i, o := (off+done)/pageSize, (off+done)%pageSize
		k := min(int64(len(b))-done, pageSize-o)
		p := c.writable(i)
		copy(p[o:o+k], b[done:done+k])
		done += k
	}
	c.size = max(c.size, end)
}

// writable returns page i for writing, copying it if it is shared.
func (c *content) writable(i int64) *page {
	if !c.own[i] {
		np := new(page)
		if c.pages[i] != nil {
			*np = *c.pages[i]
		}
		c.pages[i], c.own[i] = np, true
	}
	return c.pages[i]
}

// grow makes room for size bytes of pages without changing the size.
func (c *content) grow(size int64) {
	n := int((size + pageSize - 1) / pageSize)
	for len(c.pages) < n {
		c.pages = append(c.pages, nil)
		c.own = append(c.own, false)
	}
}

// truncate sets the size; bytes past it read as zeros if it grows again.
func (c *content) truncate(size int64) {
	if size < c.size {
		n := int((size + pageSize - 1) / pageSize)
		if o := size % pageSize; o != 0 {
			p := c.writable(size / pageSize)
			clear(p[o:])
		}
		clear(c.pages[n:])
		c.pages, c.own = c.pages[:n], c.own[:n]
	}
	c.grow(size)
	c.size = size
}

// attrs are an inode's metadata. mode holds the type bits too.
type attrs struct {
	mode     uint32
	uid, gid uint32
	rdev     uint32
	atime    int64 // ns since the epoch
	mtime    int64
	ctime    int64
}

func (a attrs) kind() uint32 { return a.mode & syscall.S_IFMT }

// inode is one file, directory or symlink, with its current state (what
// the mount shows) and its durable state (what a cut leaves).
type inode struct {
	ino    uint64
	attr   attrs
	data   content           // regular files
	target string            // symlinks
	kids   map[string]*inode // directories: current entries
	nlink  int               // current names (directories: 1 for their own name)

	durAttr attrs
	durData content
	durKids map[string]*inode // directories: durable entries
}

func (n *inode) isDir() bool { return n.attr.kind() == syscall.S_IFDIR }

// opKind is a namespace operation waiting to become durable.
type opKind uint8

const (
	opLink   opKind = iota // dir/name → node (create, mkdir, symlink, link)
	opUnlink               // remove dir/name (unlink, rmdir)
	opRename               // dir/name → dir2/name2
)

type nsOp struct {
	kind  opKind
	dir   *inode
	name  string
	node  *inode
	dir2  *inode
	name2 string
	ctime int64 // the node's ctime after the operation, which changed it
}

// involves reports whether an fsync of d makes op durable.
func (op *nsOp) involves(d *inode) bool { return op.dir == d || op.dir2 == d }

// replay applies op to the durable namespace, with the node's ctime: the
// operation and its change of the inode are one journal transaction.
func (op *nsOp) replay() {
	op.node.durAttr.ctime = max(op.node.durAttr.ctime, op.ctime)
	switch op.kind {
	case opLink:
		op.dir.durKids[op.name] = op.node
	case opUnlink:
		delete(op.dir.durKids, op.name)
	case opRename:
		if op.dir.durKids[op.name] == op.node {
			delete(op.dir.durKids, op.name)
		}
		op.dir2.durKids[op.name2] = op.node
	}
}
