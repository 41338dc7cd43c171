package verify

import (
	"fmt"
	"strings"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// Entry is one path of a tree as it is on disk now.
type Entry struct {
	Path    string // slash separated, relative to the folder root, clean
	Kind    index.Kind
	Mode    uint32 // permission bits with setuid, setgid, sticky (07777)
	UID     uint32
	GID     uint32
	MtimeNs int64
	Size    int64      // files only; 0 for directories and symlinks
	Target  string     // symlinks only
	FileID  chunker.ID // files only: chunker.FileID over the chunk ids
	// Err says why the path could not be read; its other fields are then
	// not meaningful and it is not compared (nor is anything below it).
	Err string
}

// Aspect is a set of ways in which one path differs between the two trees.
type Aspect uint16

// Aspects of a difference.
const (
	Missing    Aspect = 1 << iota // on the primary, not on the secondary
	Extra                         // on the secondary, not on the primary
	Type                          // file, directory or symlink
	Mode                          // permission bits
	Owner                         // uid or gid
	Mtime                         // modification time (ns)
	Size                          // file size
	Content                       // file id (the bytes)
	Target                        // symlink target
	Unreadable                    // could not be read on one side: not compared
)

var aspectNames = []string{"missing", "extra", "type", "mode", "owner", "mtime", "size", "content", "target", "unreadable"}

// String lists the aspects, comma separated ("mode,mtime").
func (a Aspect) String() string {
	var names []string
	for i, n := range aspectNames {
		if a&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if rest := a &^ (1<<len(aspectNames) - 1); rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint16(rest)))
	}
	return strings.Join(names, ",")
}

// Options tune what Compare looks at.
type Options struct {
	// IgnoreOwner skips uid and gid (a secondary not running as root
	// cannot set them).
	IgnoreOwner bool
}

// Compare returns how primary p and local l, entries of the same path,
// differ (0 if they do not). An entry that could not be read makes it
// Unreadable and nothing else; a type change is Type and nothing else.
func Compare(p, l *Entry, o Options) Aspect {
	if p.Err != "" || l.Err != "" {
		return Unreadable
	}
	if p.Kind != l.Kind {
		return Type
	}
	var a Aspect
	if p.Mode != l.Mode {
		a |= Mode
	}
	if !o.IgnoreOwner && (p.UID != l.UID || p.GID != l.GID) {
		a |= Owner
	}
	if p.MtimeNs != l.MtimeNs {
		a |= Mtime
	}
	switch p.Kind {
	case index.KindFile:
		if p.Size != l.Size {
			a |= Size
		}
		if p.FileID != l.FileID {
			a |= Content
		}
	case index.KindSymlink:
		if p.Target != l.Target {
			a |= Target
		}
	}
	return a
}

// Difference is one path that differs. Primary and Local are the two
// entries (the zero Entry on the side where the path is missing).
type Difference struct {
	Folder  string
	Path    string
	Aspects Aspect
	Primary Entry
	Local   Entry
}

// Detail says what differs, for a person: "mode: 0644 on the primary,
// 0600 on the secondary; mtime: ...".
func (d *Difference) Detail() string {
	p, l := &d.Primary, &d.Local
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	a := d.Aspects
	if a&Missing != 0 {
		add("missing on the secondary (a %s on the primary)", p.Kind)
	}
	if a&Extra != 0 {
		add("extra on the secondary (a %s not on the primary)", l.Kind)
	}
	if a&Unreadable != 0 {
		if p.Err != "" {
			add("not compared: on the primary: %s", p.Err)
		}
		if l.Err != "" {
			add("not compared: on the secondary: %s", l.Err)
		}
	}
	if a&Type != 0 {
		add("type: %s on the primary, %s on the secondary", p.Kind, l.Kind)
	}
	if a&Mode != 0 {
		add("mode: %04o on the primary, %04o on the secondary", p.Mode, l.Mode)
	}
	if a&Owner != 0 {
		add("owner: %d:%d on the primary, %d:%d on the secondary", p.UID, p.GID, l.UID, l.GID)
	}
	if a&Mtime != 0 {
		add("mtime: %s on the primary, %s on the secondary", showNs(p.MtimeNs), showNs(l.MtimeNs))
	}
	if a&Size != 0 {
		add("size: %d on the primary, %d on the secondary", p.Size, l.Size)
	}
	if a&Content != 0 {
		add("content: file id %.16s… on the primary, %.16s… on the secondary", p.FileID, l.FileID)
	}
	if a&Target != 0 {
		add("symlink target: %q on the primary, %q on the secondary", p.Target, l.Target)
	}
	return strings.Join(parts, "; ")
}

func showNs(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}
