package watcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procInotify holds the kernel's inotify limits (a variable for tests).
var procInotify = "/proc/sys/fs/inotify"

// procUserNS holds the limits of the calling process's user namespace
// (a variable for tests): in a container with its own user namespace, its
// max_inotify_watches may be lower than the host's sysctl.
var procUserNS = "/proc/sys/user"

// cause classes of a directory that could not be watched.
const (
	causeOther   = iota
	causeWatches // ENOSPC: fs.inotify.max_user_watches reached
	causeFiles   // EMFILE/ENFILE: open file or inotify instance limit
)

func classify(err error) int {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return causeWatches
	case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
		return causeFiles
	}
	return causeOther
}

// degradation summarises the directories that are not watched.
type degradation struct {
	needed     int // directories known, watched or not
	unwatched  int
	watchLimit int // of unwatched: ENOSPC
	fileLimit  int // of unwatched: EMFILE, ENFILE
	other      error
	otherPath  string
}

// message says why directories are unwatched and what to do; "" when all
// are watched.
func (d degradation) message() string {
	if d.unwatched == 0 {
		return ""
	}
	var parts []string
	if d.watchLimit > 0 {
		limit, ok := readLimit("max_user_watches")
		cur := "unknown"
		if ok {
			cur = strconv.Itoa(limit)
		}
		msg := fmt.Sprintf(
			"inotify watch limit reached: %d directories need watching (%d of them unwatched) but "+
				"fs.inotify.max_user_watches is %s, shared by all inotify users of this uid; "+
				"raise it: sysctl -w fs.inotify.max_user_watches=%d (and persist it in /etc/sysctl.d/)",
			d.needed, d.watchLimit, cur, suggestLimit(d.needed, limit))
		if ns, nsOK := readInt(filepath.Join(procUserNS, "max_inotify_watches")); nsOK && ok && ns < limit {
			msg += fmt.Sprintf(", and this process's user namespace (a container) has a lower limit of its own: "+
				"max_inotify_watches is %d there: raise /proc/sys/user/max_inotify_watches where the "+
				"namespace is made (the container's sysctls) to at least %d", ns, suggestLimit(d.needed, ns))
		}
		parts = append(parts, msg)
	}
	if d.fileLimit > 0 {
		parts = append(parts, fmt.Sprintf(
			"%d directories unwatched for lack of file descriptors (EMFILE/ENFILE): raise the "+
				"open file limit (LimitNOFILE= in the systemd unit, ulimit -n) and fs.file-max",
			d.fileLimit))
	}
	if d.other != nil {
		n := d.unwatched - d.watchLimit - d.fileLimit
		parts = append(parts, fmt.Sprintf("%d directories could not be watched, e.g. %q: %v",
			n, d.otherPath, d.other))
	}
	return strings.Join(parts, "; ") + "; until fixed, their changes are seen only by periodic rescans"
}

// instanceMessage says what to do when no inotify instance can be created.
func instanceMessage(err error) string {
	if classify(err) != causeFiles {
		return fmt.Sprintf("cannot create an inotify instance: %v; the whole folder is unwatched "+
			"and its changes are seen only by periodic rescans", err)
	}
	limit, ok := readLimit("max_user_instances")
	cur := "unknown"
	if ok {
		cur = strconv.Itoa(limit)
	}
	return fmt.Sprintf("cannot create an inotify instance: %v; fs.inotify.max_user_instances is %s: "+
		"raise it: sysctl -w fs.inotify.max_user_instances=%d (and persist it in /etc/sysctl.d/), "+
		"or the open file limit; until then the whole folder is unwatched and its changes are "+
		"seen only by periodic rescans", err, cur, max(1024, 2*limit))
}

// readLimit reads one of the kernel's inotify limits.
func readLimit(name string) (int, bool) {
	return readInt(filepath.Join(procInotify, name))
}

// readInt reads a file holding one decimal number.
func readInt(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// suggestLimit proposes a max_user_watches value: room for what this folder
// needs on top of what others may already use (up to the current limit),
// rounded up to a power of two, and at least 262144.
func suggestLimit(needed, current int) int {
	want := needed + max(current, 0)
	s := 262144
	for s < want {
		s *= 2
	}
	return s
}
