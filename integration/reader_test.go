package integration

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// reader loops on one path of a secondary, as an application reading it
// would, and records every moment it sees anything but a complete version:
// the file absent after it existed, a size that is no version's, or
// content that is no version's (a short, torn or mixed file).
type reader struct {
	path     string
	versions map[int64][32]byte // size → hash of each complete version

	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	existed    bool           // seen at least once
	kinds      []string       // kinds of violation, in order of first sight
	violations map[string]int // kind → count
	examples   map[string]string
	opens      int
	hashes     int
	last       [32]byte // hash of the last version read
}

// startReader starts a reader on path. If mustExist, the path must exist
// from the start; otherwise it may be absent until it first appears.
func startReader(path string, mustExist bool, versions map[int64][32]byte) *reader {
	r := &reader{path: path, versions: versions, existed: mustExist, stop: make(chan struct{}), done: make(chan struct{}),
		violations: map[string]int{}, examples: map[string]string{}}
	go r.run()
	return r
}

func (r *reader) run() {
	defer close(r.done)
	var last hashKey
	buf := make([]byte, miB)
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
		if key, ok := r.check(last, buf); ok {
			last = key
		}
	}
}

// check looks at the path once. It hashes the file only when its identity,
// size or times changed since the last hash, to keep the CPU for the
// daemons.
func (r *reader) check(last hashKey, buf []byte) (hashKey, bool) {
	f, err := os.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		r.mu.Lock()
		if r.existed {
			r.violate("missing", "absent after it existed (ENOENT)")
		}
		r.mu.Unlock()
		return last, false
	}
	if err != nil {
		r.mu.Lock()
		r.violate("error", fmt.Sprintf("open: %v", err))
		r.mu.Unlock()
		return last, false
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		r.mu.Lock()
		r.violate("error", fmt.Sprintf("fstat: %v", err))
		r.mu.Unlock()
		return last, false
	}
	r.mu.Lock()
	r.existed = true
	r.opens++
	want, known := r.versions[st.Size]
	if !known {
		r.violate("size", fmt.Sprintf("size %d is no complete version's (short or torn file)", st.Size))
	}
	r.mu.Unlock()
	key := hashKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
	if !known || key == last {
		return last, false
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		r.mu.Lock()
		r.violate("error", fmt.Sprintf("read: %v", err))
		r.mu.Unlock()
		return last, false
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hashes++
	r.last = sum
	if sum != want {
		r.violate("content", fmt.Sprintf("size %d but content sha256 %x…, not the version's %x… (mixed or partial content)", st.Size, sum[:6], want[:6]))
	}
	return key, true
}

// violate records a violation of a kind; r.mu is held. The first example
// of each kind is kept.
func (r *reader) violate(kind, what string) {
	if r.violations[kind] == 0 {
		r.kinds = append(r.kinds, kind)
		r.examples[kind] = time.Now().Format("15:04:05.000000") + " " + what
	}
	r.violations[kind]++
}

// report lists the violations, one line per kind; r.mu is held.
func (r *reader) report() []string {
	var out []string
	for _, k := range r.kinds {
		out = append(out, fmt.Sprintf("%d× %s, first: %s", r.violations[k], k, r.examples[k]))
	}
	return out
}

// finish stops the reader and returns its violations (one line per kind),
// how many times it opened the file and how many versions it hashed, and
// the last hash.
func (r *reader) finish() (violations []string, opens, hashes int, last [32]byte) {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.report(), r.opens, r.hashes, r.last
}
