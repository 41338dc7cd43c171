package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Uids and gids of the control socket test: none of them needs to exist
// in the user database; the kernel reports a process's groups.
const (
	authUID      = 54100
	authReadGID  = 54001 // control_group
	authAdminGID = 54002 // control_admin_group
)

// runAs runs the ncsync binary at bin as authUID with primary group gid
// and the supplementary groups, and returns its stdout, stderr and exit
// code.
func runAs(t *testing.T, bin string, gid uint32, groups []uint32, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: authUID, Gid: gid, Groups: append([]uint32{}, groups...)}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee) && ctx.Err() == nil:
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("ncsync %s as uid %d: %v\nstderr: %s", strings.Join(args, " "), authUID, err, stderr.String())
	return "", "", -1
}

// sharedBinary copies the ncsync binary where other users can run it.
func sharedBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ncsync-auth-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ncsyncBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ncsync")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestControlSocketAccess runs the ncsync command line as another user
// against a primary whose config names a control_group and a
// control_admin_group: outside both groups every command is refused (by
// the socket's modes, and by the credential check when the modes are
// loosened); a control_group member may read status but not pause or take
// a barrier; a control_admin_group member may pause, resume and take a
// barrier, and the daemon logs those with the caller's uid.
func TestControlSocketAccess(t *testing.T) {
	skipShort(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the command line as other users")
	}
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	pn := c.node(primaryName)
	f, err := os.OpenFile(pn.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "control_group: \"%d\"\ncontrol_admin_group: \"%d\"\n", authReadGID, authAdminGID)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// The harness keeps its sockets in a private directory: open it so
	// that only the daemon's own modes decide.
	if err := os.Chmod(c.sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := sharedBinary(t)
	smallTree(t, c.tree(primaryName, "data"), 20, 5)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")

	sock := pn.socket
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Gid != authReadGID || fi.Mode().Perm() != 0o660 {
		t.Fatalf("control socket: gid %d, mode %o; want gid %d (control_group), mode 660", st.Gid, fi.Mode().Perm(), authReadGID)
	}
	commands := map[string][]string{
		"status":   {"status", "--socket", sock},
		"barrier":  {"barrier", "--socket", sock, "--timeout", "10s"},
		"pause":    {"pause", "--socket", sock, "--peer", "nfs2", "--ttl", "1m"},
		"resume":   {"resume", "--socket", sock, "--peer", "nfs2"},
		"snapshot": {"snapshot", "--socket", sock, "--peer", "nfs2", "--", "/bin/sh", "-c", "echo SNAPSHOT-CMD-RAN"},
	}
	// refused checks that every command in names fails, naming the uid,
	// the command (pause for snapshot) and what is allowed.
	refused := func(t *testing.T, gid uint32, groups []uint32, names []string, with ...string) {
		t.Helper()
		for _, name := range names {
			out, errOut, code := runAs(t, bin, gid, groups, commands[name]...)
			rpc := name
			if name == "snapshot" {
				rpc = "pause"
			}
			want := append([]string{fmt.Sprintf("uid %d", authUID), "may not run " + rpc}, with...)
			if code != 1 || !mentions(errOut, want...) || strings.Contains(out, "SNAPSHOT-CMD-RAN") {
				t.Errorf("%s as uid %d groups %v: exit %d, stdout %q, stderr %q; want exit 1 and a refusal mentioning %q",
					name, authUID, groups, code, out, errOut, want)
			}
		}
	}
	all := []string{"status", "barrier", "pause", "resume", "snapshot"}
	changing := []string{"barrier", "pause", "resume", "snapshot"}

	t.Run("reader may read status, nothing else", func(t *testing.T) {
		out, errOut, code := runAs(t, bin, authUID, []uint32{authReadGID}, commands["status"]...)
		if code != 0 || !strings.Contains(out, "nfs2") {
			t.Fatalf("status as a control_group member: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		refused(t, authUID, []uint32{authReadGID}, changing, fmt.Sprintf("gid %d (control_admin_group)", authAdminGID),
			fmt.Sprintf("as a member of gid %d (control_group) it may only run status", authReadGID))
	})

	t.Run("admin may pause, resume and take a barrier", func(t *testing.T) {
		groups := []uint32{authReadGID, authAdminGID}
		for _, name := range []string{"pause", "resume", "barrier", "status"} {
			out, errOut, code := runAs(t, bin, authUID, groups, commands[name]...)
			if code != 0 {
				t.Errorf("%s as a control_admin_group member: exit %d\nstdout: %s\nstderr: %s", name, code, out, errOut)
			}
		}
		var logged string
		waitFor(t, 5*time.Second, func() string { return "the daemon did not log the admin's pause with its uid:\n" + logged }, func() bool {
			data, _ := os.ReadFile(pn.logPath)
			logged = tail(pn.logPath, 20)
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, "control command") && strings.Contains(line, "pause") &&
					strings.Contains(line, fmt.Sprintf("uid=%d", authUID)) {
					return true
				}
			}
			return false
		})
	})

	t.Run("outsider is kept out by the socket's modes", func(t *testing.T) {
		for _, name := range all {
			out, errOut, code := runAs(t, bin, authUID, nil, commands[name]...)
			if code != 1 || !mentions(errOut, "permission denied") || strings.Contains(out, "SNAPSHOT-CMD-RAN") {
				t.Errorf("%s as an outsider: exit %d, stdout %q, stderr %q; want exit 1, permission denied", name, code, out, errOut)
			}
		}
	})

	t.Run("outsider is refused every command on loosened modes", func(t *testing.T) {
		for p, mode := range map[string]os.FileMode{filepath.Dir(sock): 0o755, sock: 0o666} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		refused(t, authUID, []uint32{100}, all, fmt.Sprintf("gid %d (control_admin_group)", authAdminGID))
		// An admin's gid as the outsider's primary group would count; a
		// reader's primary group admits status only.
		refused(t, authReadGID, nil, changing, fmt.Sprintf("gid %d (control_group)", authReadGID))
	})

	// Nothing the refused commands asked for happened: nfs2 is not paused.
	if st := c.mustStatus(primaryName); len(st.Pauses) != 0 {
		t.Errorf("pauses after the test: %+v", st.Pauses)
	}
}
