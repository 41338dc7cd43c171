package scanner

import (
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
)

const fullConfig = "<?php\n$CONFIG = array (\n  'instanceid' => 'oc1234',\n  'maintenance' => false,\n);\n"

// writerLock is how a writer holds its lock while it rewrites a file in
// place: Nextcloud with flock, an NFS client (through nfsd) with a POSIX
// byte-range lock, a program with an OFD lock.
type writerLock struct {
	name         string
	lock, unlock func(fd int) error
}

var writerLocks = []writerLock{
	{"flock", func(fd int) error { return unix.Flock(fd, unix.LOCK_EX) },
		func(fd int) error { return unix.Flock(fd, unix.LOCK_UN) }},
	{"posix", func(fd int) error { return setlk(fd, unix.F_SETLKW, unix.F_WRLCK) },
		func(fd int) error { return setlk(fd, unix.F_SETLK, unix.F_UNLCK) }},
	{"ofd", func(fd int) error { return setlk(fd, unix.F_OFD_SETLKW, unix.F_WRLCK) },
		func(fd int) error { return setlk(fd, unix.F_OFD_SETLK, unix.F_UNLCK) }},
}

func setlk(fd, cmd int, typ int16) error {
	lk := unix.Flock_t{Type: typ}
	return unix.FcntlFlock(uintptr(fd), cmd, &lk)
}

// A file truncated under a writer's lock is not read: the scan defers it
// and the index keeps the complete version. Once the writer has written
// and unlocked, the next scan journals the new version, never the empty
// one in between.
func TestLockedFileIsDeferred(t *testing.T) {
	for _, wl := range writerLocks {
		t.Run(wl.name, func(t *testing.T) {
			e := newEnv(t)
			e.write("config/config.php", fullConfig)
			e.write("config/other.txt", "x")
			e.scan()
			before := e.entry("config/config.php")
			journaled := e.store.journalLen()

			f, err := os.OpenFile(e.abs("config/config.php"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := wl.lock(int(f.Fd())); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			tick()
			e.write("config/other.txt", "changed")

			r := e.scan()
			want := []Deferred{{Path: "config/config.php", Reason: ReasonBeingWritten}}
			if !slices.Equal(r.Deferred, want) {
				t.Errorf("Deferred %+v, want %+v", r.Deferred, want)
			}
			if got := e.entry("config/config.php"); got.Size != before.Size || got.FileID != before.FileID {
				t.Errorf("journaled size %d while a writer held its lock, want the complete version (size %d)", got.Size, before.Size)
			}
			if got := paths(e.store.journalFrom(journaled)); !slices.Equal(got, []string{"config/other.txt"}) {
				t.Errorf("journaled %q, want only the other file", got)
			}

			next := fullConfig + "// rewritten\n"
			if _, err := f.WriteAt([]byte(next), 0); err != nil {
				t.Fatal(err)
			}
			if err := wl.unlock(int(f.Fd())); err != nil {
				t.Fatal(err)
			}
			r = e.scan("config/config.php")
			if len(r.Deferred) != 0 {
				t.Errorf("Deferred %+v after the writer unlocked", r.Deferred)
			}
			if got := e.entry("config/config.php"); got.Size != int64(len(next)) {
				t.Errorf("size %d after the writer unlocked, want %d", got.Size, len(next))
			}
		})
	}
}

func holdEnv(t *testing.T) *env {
	m, err := ignore.New([]string{"/config/config.php", "/config/*.config.php"})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(o *Options) { o.HoldEmpty, o.HoldEmptyFor = m, 10*time.Second })
}

func ctimeOf(e *env, rel string) time.Time {
	st := e.lstat(rel)
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
}

// An empty config.php (truncated without any lock) is held until it has
// been empty for HoldEmptyFor, then journaled: a truncation that lasts
// replicates.
func TestEmptyConfigIsHeld(t *testing.T) {
	e := holdEnv(t)
	e.write("config/config.php", fullConfig)
	e.write("config/s3.config.php", fullConfig)
	e.scan()
	full := e.entry("config/config.php")
	tick()
	for _, p := range []string{"config/config.php", "config/s3.config.php"} {
		if err := os.Truncate(e.abs(p), 0); err != nil {
			t.Fatal(err)
		}
	}
	emptied := ctimeOf(e, "config/config.php")
	e.s.now = func() time.Time { return emptied.Add(time.Second) }
	r := e.scan()
	if len(r.Deferred) != 2 {
		t.Fatalf("Deferred %+v, want both config files held", r.Deferred)
	}
	for _, d := range r.Deferred {
		if d.Reason != ReasonHeldEmpty || d.Until.Sub(ctimeOf(e, d.Path)) != 10*time.Second {
			t.Errorf("deferred %+v, want held until 10s after it became empty", d)
		}
	}
	if got := e.entry("config/config.php"); got.FileID != full.FileID {
		t.Errorf("the empty config.php was journaled during its hold")
	}

	e.s.now = func() time.Time { return emptied.Add(10*time.Second + time.Millisecond) }
	r = e.scan()
	if len(r.Deferred) != 0 || r.Changed != 2 {
		t.Errorf("after the hold: Deferred %+v, changed %d; want both journaled empty", r.Deferred, r.Changed)
	}
	if got := e.entry("config/config.php"); got.Size != 0 {
		t.Errorf("size %d after the hold, want 0", got.Size)
	}
	// Replicated empty: a chmod of the empty file is not held again.
	tick()
	if err := os.Chmod(e.abs("config/config.php"), 0o640); err != nil {
		t.Fatal(err)
	}
	e.s.now = func() time.Time { return ctimeOf(e, "config/config.php") }
	if r := e.scan(); len(r.Deferred) != 0 || r.Changed != 1 {
		t.Errorf("chmod of a replicated empty file: Deferred %+v, changed %d", r.Deferred, r.Changed)
	}
}

// What the hold does not touch: empty files elsewhere, a new empty
// config.php once its hold is over, and deletions.
func TestHoldLeavesTheRestAlone(t *testing.T) {
	e := holdEnv(t)
	e.write("config/config.php", "")
	e.write("config/config.sample.php", "")
	e.write("data/config/config.php", "")
	e.write("config/config.php.bak", "")
	now := ctimeOf(e, "config/config.php")
	e.s.now = func() time.Time { return now }
	r := e.scan()
	if want := []Deferred{{Path: "config/config.php", Reason: ReasonHeldEmpty, Until: now.Add(10 * time.Second)}}; !slices.Equal(r.Deferred, want) {
		t.Errorf("Deferred %+v, want only the new empty config.php (%+v)", r.Deferred, want)
	}
	for _, p := range []string{"config/config.sample.php", "data/config/config.php", "config/config.php.bak"} {
		e.entry(p)
	}
	if _, ok := e.store.get("config/config.php"); ok {
		t.Errorf("a new empty config.php was journaled during its hold")
	}

	e.write("config/config.php", fullConfig)
	e.scan()
	e.remove("config/config.php")
	r = e.scan()
	if en, ok := e.store.get("config/config.php"); !ok || !en.Deleted || len(r.Deferred) != 0 {
		t.Errorf("deleted config.php: entry %+v (found %v), Deferred %+v; want a tombstone", en, ok, r.Deferred)
	}
}
