package apply

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// The local attacker of TestSymlinkTempRace: a process of its own that
// drops to attackerUID and, in a directory it may write (fd 3), replaces
// each of ncsync's temp objects it sees by a hard link to the victim file
// (fd 4 is the victim's directory), so that root's chown and utimens by
// name would land on the victim.
const (
	attackerEnv = "NCSYNC_TEST_ATTACKER"
	attackerUID = 54321
	victimName  = "victim"
)

func attack() int {
	const dirFD, victimDirFD = 3, 4
	if err := syscall.Setgroups(nil); err != nil {
		fmt.Println("setgroups:", err)
		return 1
	}
	if err := syscall.Setgid(attackerUID); err != nil {
		fmt.Println("setgid:", err)
		return 1
	}
	if err := syscall.Setuid(attackerUID); err != nil {
		fmt.Println("setuid:", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	buf := make([]byte, 64<<10)
	var names []string
	for scans := 1; ; scans++ {
		if _, err := unix.Seek(dirFD, 0, 0); err != nil {
			fmt.Fprintln(out, "seek:", err)
			out.Flush()
			return 1
		}
		names = names[:0]
		for {
			n, err := unix.Getdents(dirFD, buf)
			if err != nil || n <= 0 {
				break
			}
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
		}
		for _, name := range names {
			if !strings.HasPrefix(name, tempPrefix) {
				continue
			}
			if unix.Unlinkat(dirFD, name, 0) == nil && unix.Linkat(victimDirFD, victimName, dirFD, name, 0) == nil {
				fmt.Fprintln(out, "swapped")
			}
		}
		if scans%10000 == 0 {
			fmt.Fprintln(out, "scans", scans)
			out.Flush()
		}
	}
}

// TestSymlinkTempRace: a local user who can write the directory a symlink
// is replicated into races every temp object it can see, for 10 s under
// the race detector (2 s otherwise), swapping it for a hard link to a
// victim file; the victim's owner and mtime never change. Temp objects
// live in the folder's private directory, where the attacker cannot reach
// them.
func TestSymlinkTempRace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the attack is on root's chown")
	}
	duration := 2 * time.Second
	if raceEnabled {
		duration = 10 * time.Second
	}
	f, root := openTest(t, Options{Chown: true}, false)
	shared := filepath.Join(root, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o1777&^0o1000); err != nil { // writable by all, not sticky
		t.Fatal(err)
	}
	victimDir := t.TempDir() // same file system as root: a hard link is possible
	victim := filepath.Join(victimDir, victimName)
	if err := os.WriteFile(victim, []byte("root's file\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o666); err != nil { // the attacker may link what it may read and write
		t.Fatal(err)
	}
	victimMtime := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := os.Chtimes(victim, victimMtime, victimMtime); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	if err := unix.Stat(victim, &before); err != nil {
		t.Fatal(err)
	}

	dirf, err := os.Open(shared)
	if err != nil {
		t.Fatal(err)
	}
	defer dirf.Close()
	vdirf, err := os.Open(victimDir)
	if err != nil {
		t.Fatal(err)
	}
	defer vdirf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), attackerEnv+"=1")
	cmd.ExtraFiles = []*os.File{dirf, vdirf}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("attacker: %q", sc.Text())
	}
	type report struct {
		swaps int
		scans string
	}
	reported := make(chan report, 1)
	go func() {
		var r report
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "swapped":
				r.swaps++
			case strings.HasPrefix(l, "scans "):
				r.scans = l
			}
		}
		reported <- r
	}()

	// Each round replicates a new symlink owned by the attacker's uid
	// into the shared directory, then removes it.
	rounds := 0
	for end := time.Now().Add(duration); time.Now().Before(end); rounds++ {
		l := symlinkEntry(fmt.Sprintf("shared/l%d", rounds%8), "target")
		l.UID, l.GID = attackerUID, attackerUID
		res, err := f.Apply(context.Background(), []index.Entry{l}, nil, Known{})
		if err != nil {
			t.Fatal(err)
		}
		_ = res // a swapped temp may fail the entry; only the victim matters
	}
	_ = cmd.Process.Kill()
	r := <-reported
	_ = cmd.Wait()
	t.Logf("%d symlinks replicated in %v; attacker: %d swaps, %s", rounds, duration, r.swaps, r.scans)
	var after unix.Stat_t
	if err := unix.Stat(victim, &after); err != nil {
		t.Fatal(err)
	}
	if after.Uid != before.Uid || after.Gid != before.Gid || after.Mtim != before.Mtim {
		t.Errorf("victim changed: owner %d:%d mtime %v, was %d:%d %v", after.Uid, after.Gid,
			time.Unix(0, after.Mtim.Nano()).UTC(), before.Uid, before.Gid, time.Unix(0, before.Mtim.Nano()).UTC())
	}
	if r.scans == "" {
		t.Error("the attacker never scanned the directory")
	}
}
