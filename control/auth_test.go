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
	const g = 4242
	lookups := 0
	userDB := map[uint32][]uint32{1001: {100, g}, 1002: {100}}
	newPolicy := func(gid int) *access {
		a := newAccess("ncsync", gid, 0)
		a.lookup = func(uid uint32) ([]uint32, error) {
			lookups++
			if gids, ok := userDB[uid]; ok {
				return gids, nil
			}
			return nil, user.UnknownUserIdError(int(uid))
		}
		return a
	}
	tests := []struct {
		name   string
		gid    int // the policy's group; -1 none
		caller Caller
		lv     level
		want   string // "" means allowed; else a substring of the refusal
	}{
		{name: "root", gid: -1, caller: Caller{UID: 0, GID: 0}, lv: mutating},
		{name: "process group", gid: g, caller: Caller{UID: 1000, GID: g}, lv: mutating},
		{name: "user database group", gid: g, caller: Caller{UID: 1001, GID: 1001}, lv: mutating},
		{name: "member reads", gid: g, caller: Caller{UID: 1001, GID: 1001}, lv: readOnly},
		{name: "outsider", gid: g, caller: Caller{UID: 1002, GID: 1002, PID: 77}, lv: readOnly,
			want: `uid 1002 (pid 77) may not run status: this control socket allows root and members of group "ncsync" (control_group)`},
		{name: "unknown user", gid: g, caller: Caller{UID: 5000, GID: 5000}, lv: mutating, want: "uid 5000"},
		{name: "no group", gid: -1, caller: Caller{UID: 1001, GID: g}, lv: readOnly, want: "root only (set control_group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "barrier"
			if tc.lv == readOnly {
				cmd = "status"
			}
			err := newPolicy(tc.gid).allow(tc.caller, tc.lv, cmd)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a refusal containing %q", err, tc.want)
			}
		})
	}

	t.Run("admins apart from readers", func(t *testing.T) {
		a := newPolicy(g)
		a.admins = group{name: "ncsync-admin", gid: -1}
		c := Caller{UID: 1001, GID: 1001}
		if err := a.allow(c, readOnly, "status"); err != nil {
			t.Fatalf("status refused: %v", err)
		}
		if err := a.allow(c, mutating, "pause"); err == nil || !strings.Contains(err.Error(), "may not run pause") {
			t.Fatalf("pause: got %v, want a refusal", err)
		}
	})

	t.Run("groups cached briefly", func(t *testing.T) {
		a := newPolicy(g)
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
func probeAs(t *testing.T, bin, path string, uid, gid uint32) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestAuthChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as %d:%d: %v\n%s", uid, gid, err, out)
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
		t.Fatalf("child as %d:%d printed nothing useful:\n%s", uid, gid, out)
	}
	t.Logf("as %d:%d: %q", uid, gid, got)
	return got
}

// serveAuth serves a control socket at path for group, with a node that
// answers Status and Barrier.
func serveAuth(t *testing.T, path, group string) {
	t.Helper()
	lis, err := Listen(path, group)
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
// unix sockets, clients running as other users. It needs root.
func TestAuthOverSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run clients as other users")
	}
	nogroup, err := user.LookupGroupId("65534")
	if err != nil {
		t.Skipf("no group 65534: %v", err)
	}
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
	serveAuth(t, grouped, nogroup.Name)
	allMethods := []string{"Status", "Barrier", "Pause", "Resume", "Verify", "Promote", "Conflicts"}

	t.Run("group member may run every command", func(t *testing.T) {
		got := probeAs(t, bin, grouped, 65534, 65534)
		for _, m := range allMethods {
			if r, ok := got[m]; !ok || strings.HasPrefix(r, "PermissionDenied") {
				t.Errorf("%s: %q, want it admitted", m, r)
			}
		}
		if !strings.HasPrefix(got["Status"], "OK") || !strings.HasPrefix(got["Barrier"], "OK") {
			t.Errorf("status %q, barrier %q: want both OK", got["Status"], got["Barrier"])
		}
	})

	t.Run("outsider cannot even connect", func(t *testing.T) {
		got := probeAs(t, bin, grouped, 54321, 54321)
		if !strings.Contains(got["DIAL"], "permission denied") {
			t.Fatalf("got %v, want the socket's directory to keep uid 54321 out", got)
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
		got := probeAs(t, bin, grouped, 54321, 54321)
		for _, m := range allMethods {
			want := "PermissionDenied uid 54321 (pid "
			if r := got[m]; !strings.HasPrefix(r, want) || !strings.Contains(r, "may not run "+strings.ToLower(m)) ||
				!strings.Contains(r, strconv.Quote(nogroup.Name)) {
				t.Errorf("%s: %q, want a refusal naming uid 54321, the command and group %q", m, r, nogroup.Name)
			}
		}
	})

	t.Run("no group configured: root only", func(t *testing.T) {
		solo := filepath.Join(dir, "s", "control.sock")
		serveAuth(t, solo, "")
		for p, mode := range map[string]os.FileMode{filepath.Dir(solo): 0o755, solo: 0o666} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		got := probeAs(t, bin, solo, 65534, 65534)
		for _, m := range allMethods {
			if r := got[m]; !strings.HasPrefix(r, "PermissionDenied") || !strings.Contains(r, "root only") {
				t.Errorf("%s: %q, want refused (root only)", m, r)
			}
		}
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
