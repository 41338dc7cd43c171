package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

func TestAccessPolicy(t *testing.T) {
	const readGID, adminGID = 4242, 4343
	lookups := 0
	userDB := map[uint32][]uint32{1001: {100, readGID}, 1002: {100}, 1003: {readGID, adminGID}}
	readers := group{name: "ncsync", gid: readGID, key: "control_group"}
	admins := group{name: "ncsync-admin", gid: adminGID, key: "control_admin_group"}
	newPolicy := func(r, a group) *access {
		p := newAccess(r, a, 0)
		p.lookup = func(uid uint32) ([]uint32, error) {
			lookups++
			if gids, ok := userDB[uid]; ok {
				return gids, nil
			}
			return nil, user.UnknownUserIdError(int(uid))
		}
		return p
	}
	tests := []struct {
		name            string
		readers, admins group
		caller          Caller
		lv              level
		want            string // "" means allowed; else a substring of the refusal
	}{
		{name: "root", readers: noGroup, admins: noGroup, caller: Caller{UID: 0, GID: 0}, lv: mutating},
		{name: "reader reads (process group)", readers: readers, admins: admins, caller: Caller{UID: 1000, GID: readGID}, lv: readOnly},
		{name: "reader reads (supplementary)", readers: readers, admins: admins, caller: Caller{UID: 1000, GID: 1000, Groups: []uint32{7, readGID}}, lv: readOnly},
		{name: "reader reads (user database)", readers: readers, admins: admins, caller: Caller{UID: 1001, GID: 1001}, lv: readOnly},
		{name: "reader may not pause", readers: readers, admins: admins, caller: Caller{UID: 1000, GID: 1000, Groups: []uint32{readGID}, PID: 9}, lv: mutating,
			want: `uid 1000 (pid 9) may not run pause: this control socket allows root and members of group "ncsync-admin" (control_admin_group); as a member of group "ncsync" (control_group) it may only run status, conflicts, verify and changes`},
		{name: "reader may not pause without admin group", readers: readers, admins: noGroup, caller: Caller{UID: 1000, GID: readGID}, lv: mutating,
			want: "allows root only (set control_admin_group in the config to admit a group); as a member of"},
		{name: "admin pauses (supplementary)", readers: readers, admins: admins, caller: Caller{UID: 1000, GID: 1000, Groups: []uint32{readGID, adminGID}}, lv: mutating},
		{name: "admin pauses (user database)", readers: readers, admins: admins, caller: Caller{UID: 1003, GID: 1003}, lv: mutating},
		{name: "admin reads", readers: readers, admins: admins, caller: Caller{UID: 1000, GID: adminGID}, lv: readOnly},
		{name: "admin group alone", readers: noGroup, admins: admins, caller: Caller{UID: 1000, GID: adminGID}, lv: mutating},
		{name: "kernel groups win over the user database", readers: readers, admins: admins, caller: Caller{UID: 1003, GID: 1003, Groups: []uint32{}}, lv: readOnly,
			want: "uid 1003"},
		{name: "outsider reads", readers: readers, admins: admins, caller: Caller{UID: 1002, GID: 1002, PID: 77, Groups: []uint32{100}}, lv: readOnly,
			want: `uid 1002 (pid 77) may not run status: this control socket allows root, members of group "ncsync" (control_group) and of group "ncsync-admin" (control_admin_group)`},
		{name: "outsider pauses", readers: readers, admins: admins, caller: Caller{UID: 1002, GID: 1002, Groups: []uint32{100}}, lv: mutating,
			want: `members of group "ncsync" (control_group) may run status, conflicts, verify and changes`},
		{name: "unknown user", readers: readers, admins: admins, caller: Caller{UID: 5000, GID: 5000}, lv: readOnly, want: "uid 5000"},
		{name: "numeric gid", readers: group{name: "54001", gid: 54001, key: "control_group"}, admins: noGroup, caller: Caller{UID: 5000, GID: 1}, lv: readOnly,
			want: "members of gid 54001 (control_group)"},
		{name: "no group", readers: noGroup, admins: noGroup, caller: Caller{UID: 1001, GID: readGID}, lv: readOnly, want: "root only (set control_group and control_admin_group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "pause"
			if tc.lv == readOnly {
				cmd = "status"
			}
			err := newPolicy(tc.readers, tc.admins).allow(tc.caller, tc.lv, cmd)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a refusal containing %q", err, tc.want)
			}
		})
	}

	t.Run("daemon's own user", func(t *testing.T) {
		a := newAccess(noGroup, noGroup, 990)
		if err := a.allow(Caller{UID: 990, GID: 990}, mutating, "promote"); err != nil {
			t.Fatalf("the daemon's own user refused: %v", err)
		}
		err := a.allow(Caller{UID: 991, GID: 991}, readOnly, "status")
		if err == nil || !strings.Contains(err.Error(), "root and uid 990 (the daemon's user) only") {
			t.Fatalf("got %v, want a refusal naming the daemon's user", err)
		}
	})

	t.Run("user database cached briefly", func(t *testing.T) {
		a := newPolicy(readers, admins)
		now := time.Unix(1000, 0)
		a.now = func() time.Time { return now }
		lookups = 0
		c := Caller{UID: 1001, GID: 1001}
		for range 3 {
			if err := a.allow(c, readOnly, "status"); err != nil {
				t.Fatal(err)
			}
		}
		if lookups != 1 {
			t.Fatalf("%d lookups within the cache time, want 1", lookups)
		}
		userDB[1001] = []uint32{100} // removed from the group
		now = now.Add(groupCacheTTL + time.Second)
		if err := a.allow(c, readOnly, "status"); err == nil {
			t.Fatal("still allowed after leaving the group and the cache time")
		}
	})
}

func TestPolicyDescribed(t *testing.T) {
	readers := group{name: "ncsync", gid: 4242, key: "control_group"}
	admins := group{name: "54002", gid: 54002, key: "control_admin_group"}
	tests := []struct {
		readers, admins group
		want            string
	}{
		{noGroup, noGroup, "root only"},
		{readers, noGroup, `root; group "ncsync" (control_group) may run status, conflicts, verify and changes`},
		{readers, admins, `root; group "ncsync" (control_group) may run status, conflicts, verify and changes; gid 54002 (control_admin_group) may run every command`},
	}
	for _, tc := range tests {
		if got := newAccess(tc.readers, tc.admins, 0).describe(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestResolveGroup(t *testing.T) {
	root, err := user.LookupGroupId("0")
	if err != nil {
		t.Skipf("no group 0: %v", err)
	}
	tests := []struct {
		name, in string
		gid      int
		want     string // error substring
	}{
		{name: "none", in: "", gid: -1},
		{name: "by name", in: root.Name, gid: 0},
		{name: "numeric, not in the database", in: "54321", gid: 54321},
		{name: "unknown name", in: "no-such-group-ncsync", gid: -1, want: `control_group "no-such-group-ncsync": no such group`},
		{name: "number out of range", in: "99999999999", gid: -1, want: "control_group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := resolveGroup("control_group", tc.in)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, %v; want an error containing %q", g, err, tc.want)
				}
				return
			}
			if err != nil || g.gid != tc.gid {
				t.Fatalf("got gid %d, %v; want %d", g.gid, err, tc.gid)
			}
		})
	}
}

// childEnv names the socket a re-executed test binary probes (see
// TestAuthChild).
const childEnv = "NCSYNC_CONTROL_AUTH_CHILD"

// TestAuthChild is not a test on its own: run by TestAuthOverSocket as
// another user, it calls every control method and prints one line per
// method: its name, the gRPC code and message.
func TestAuthChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestAuthOverSocket")
	}
	if _, err := Dial(path); err != nil {
		fmt.Printf("DIAL %s\n", oneLine(err.Error()))
		return
	}
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sd := ncsyncv1.ControlService_ServiceDesc
	for _, m := range sd.Methods {
		err := conn.Invoke(ctx, "/"+sd.ServiceName+"/"+m.MethodName, &ncsyncv1.StatusRequest{}, &ncsyncv1.StatusResponse{})
		fmt.Printf("CALL %s %s %s\n", m.MethodName, status.Code(err), oneLine(status.Convert(err).Message()))
	}
	for i, s := range sd.Streams {
		st, err := conn.NewStream(ctx, &sd.Streams[i], "/"+sd.ServiceName+"/"+s.StreamName)
		if err == nil {
			if err = st.SendMsg(&ncsyncv1.BarrierRequest{}); err == nil {
				st.CloseSend()
				for err == nil {
					err = st.RecvMsg(&ncsyncv1.BarrierResponse{})
				}
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		fmt.Printf("CALL %s %s %s\n", s.StreamName, status.Code(err), oneLine(status.Convert(err).Message()))
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// probeAs runs TestAuthChild as uid:gid against the socket at path and
// returns what it printed: method → "Code message", or "DIAL" → error.
func probeAs(t *testing.T, bin, path string, uid, gid uint32, groups ...uint32) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestAuthChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: append([]uint32{}, groups...)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as %d:%d %v: %v\n%s", uid, gid, groups, err, out)
	}
	got := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "CALL "); ok {
			name, result, _ := strings.Cut(rest, " ")
			got[name] = result
		} else if rest, ok := strings.CutPrefix(line, "DIAL "); ok {
			got["DIAL"] = rest
		}
	}
	if len(got) == 0 {
		t.Fatalf("child as %d:%d %v printed nothing useful:\n%s", uid, gid, groups, out)
	}
	t.Logf("as %d:%d %v: %q", uid, gid, groups, got)
	return got
}

// serveAuth serves a control socket at path for groups, with a node that
// answers Status and Barrier.
func serveAuth(t *testing.T, path string, groups Groups) {
	t.Helper()
	lis, err := Listen(path, groups)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(&barrierNode{fakeNode: fakeNode{}}, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestAuthOverSocket checks the peer-credential policy end to end: real
// unix sockets, clients running as other users with the groups set by
// the kernel (uids and gids that need not exist in the user database). It
// needs root.
func TestAuthOverSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run clients as other users")
	}
	const (
		readGID, adminGID = 54001, 54002
		uid               = 54100 // not in the user database
	)
	// Everything the other users need must be reachable by them.
	dir, err := os.MkdirTemp("", "ncsync-auth-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}

	grouped := filepath.Join(dir, "g", "control.sock")
	serveAuth(t, grouped, Groups{Read: strconv.Itoa(readGID), Admin: strconv.Itoa(adminGID)})
	fi, err := os.Stat(grouped)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Gid != readGID || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket gid %d mode %o, want %d and 660", st.Gid, fi.Mode().Perm(), readGID)
	}
	readOnly := []string{"Status", "Conflicts", "Verify"}
	changing := []string{"Barrier", "Pause", "Resume", "Promote"}
	admitted := func(t *testing.T, got map[string]string, methods []string) {
		t.Helper()
		for _, m := range methods {
			if r, ok := got[m]; !ok || strings.HasPrefix(r, "PermissionDenied") {
				t.Errorf("%s: %q, want it admitted", m, r)
			}
		}
	}
	refused := func(t *testing.T, got map[string]string, methods []string, with ...string) {
		t.Helper()
		for _, m := range methods {
			r := got[m]
			want := append([]string{"PermissionDenied", fmt.Sprintf("uid %d (pid ", uid), "may not run " + strings.ToLower(m)}, with...)
			for _, w := range want {
				if !strings.Contains(r, w) {
					t.Errorf("%s: %q, want a refusal containing %q", m, r, w)
				}
			}
		}
	}

	t.Run("reader reads but may not change anything", func(t *testing.T) {
		got := probeAs(t, bin, grouped, uid, uid, readGID)
		admitted(t, got, readOnly)
		if !strings.HasPrefix(got["Status"], "OK") {
			t.Errorf("status %q, want OK", got["Status"])
		}
		refused(t, got, changing, `gid 54002 (control_admin_group)`, "may only run status")
	})

	t.Run("admin may run every command", func(t *testing.T) {
		got := probeAs(t, bin, grouped, uid, uid, readGID, adminGID)
		admitted(t, got, append(readOnly, changing...))
		if !strings.HasPrefix(got["Status"], "OK") || !strings.HasPrefix(got["Barrier"], "OK") {
			t.Errorf("status %q, barrier %q: want both OK", got["Status"], got["Barrier"])
		}
	})

	t.Run("outsider cannot even connect", func(t *testing.T) {
		got := probeAs(t, bin, grouped, uid, uid, 100)
		if !strings.Contains(got["DIAL"], "permission denied") {
			t.Fatalf("got %v, want the socket's directory to keep uid %d out", got, uid)
		}
	})

	t.Run("admin outside control_group cannot connect", func(t *testing.T) {
		// The socket belongs to control_group: admins need both groups.
		got := probeAs(t, bin, grouped, uid, uid, adminGID)
		if !strings.Contains(got["DIAL"], "permission denied") {
			t.Fatalf("got %v, want the socket's directory to keep uid %d out", got, uid)
		}
	})

	t.Run("outsider refused on a socket with loose modes", func(t *testing.T) {
		// A socket whose modes were loosened by hand: the credential check
		// still refuses every command.
		for p, mode := range map[string]os.FileMode{filepath.Dir(grouped): 0o755, grouped: 0o666} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		got := probeAs(t, bin, grouped, uid, uid, 100)
		refused(t, got, append(readOnly, changing...), "gid 54001 (control_group)")
	})

	t.Run("no group configured: root only", func(t *testing.T) {
		solo := filepath.Join(dir, "s", "control.sock")
		serveAuth(t, solo, Groups{})
		for p, mode := range map[string]os.FileMode{filepath.Dir(solo): 0o755, solo: 0o666} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		got := probeAs(t, bin, solo, uid, readGID, readGID, adminGID)
		refused(t, got, append(readOnly, changing...), "root only")
	})
}

// TestServeRefusesUnknownCaller: a connection that did not come through
// the control Listener has no credentials and is refused.
func TestServeRefusesUnknownCaller(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(fakeNode{}, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-done
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.rpc.Status(context.Background(), &ncsyncv1.StatusRequest{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "cannot identify the caller") {
		t.Fatalf("got %v, want PermissionDenied: cannot identify the caller", err)
	}
}
