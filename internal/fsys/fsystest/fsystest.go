// Package fsystest runs tests on the confined-open fallback of package
// fsys as a kernel without openat2 would: a seccomp filter makes every
// openat2 call of the test process fail with ENOSYS, so that a call that
// bypasses fsys fails too instead of passing unnoticed.
package fsystest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// Main runs a package's tests (call it from TestMain). With
// NCSYNC_NO_OPENAT2=1 in the environment it first makes openat2 fail with
// ENOSYS for the whole process, as on Linux before 5.6.
func Main(m *testing.M) {
	if os.Getenv(fsys.NoOpenat2Env) == "1" {
		if err := denyOpenat2(); err != nil {
			fmt.Fprintf(os.Stderr, "fsystest: cannot filter openat2: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// Filtered reports whether this process runs with openat2 filtered out.
func Filtered() bool { return os.Getenv(fsys.NoOpenat2Env) == "1" }

// RunWithoutOpenat2 runs the test name (a top-level test of the calling
// package, whose TestMain must call Main) again in a child process where
// openat2 fails with ENOSYS, and fails t unless it passes there.
func RunWithoutOpenat2(t *testing.T, name string) {
	t.Helper()
	if Filtered() {
		t.Skip("already running without openat2")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fsys.NoOpenat2Env+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s without openat2: %v\n%s", name, err, out)
	}
}

// BPF and seccomp constants (linux/filter.h, linux/seccomp.h).
const (
	bpfLdWAbs    = 0x20 // BPF_LD|BPF_W|BPF_ABS
	bpfJeqK      = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	bpfRetK      = 0x06 // BPF_RET|BPF_K
	retAllow     = 0x7fff0000
	retErrno     = 0x00050000
	setModeFilt  = 1 // SECCOMP_SET_MODE_FILTER
	filterTSync  = 1 // SECCOMP_FILTER_FLAG_TSYNC
	offsetSysNum = 0 // offsetof(struct seccomp_data, nr)
)

// denyOpenat2 installs, on every thread of the process, a filter that
// answers ENOSYS to openat2 and lets every other call through.
func denyOpenat2() error {
	prog := []unix.SockFilter{
		{Code: bpfLdWAbs, K: offsetSysNum},
		{Code: bpfJeqK, Jt: 0, Jf: 1, K: unix.SYS_OPENAT2},
		{Code: bpfRetK, K: retErrno | uint32(unix.ENOSYS)},
		{Code: bpfRetK, K: retAllow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilt, filterTSync, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	if _, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH}); err != unix.ENOSYS {
		return fmt.Errorf("openat2 still answers %v", err)
	}
	return nil
}
