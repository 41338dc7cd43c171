package health

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

type fakeSource struct {
	mu sync.Mutex
	st report.Node
}

func (f *fakeSource) set(st report.Node) { f.mu.Lock(); f.st = st; f.mu.Unlock() }

func (f *fakeSource) Status(context.Context) (report.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

func startServer(t *testing.T, src Source) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewServer(src, Thresholds{MaxLag: 10 * time.Second, MaxDisconnected: 30 * time.Second}, nil).Serve(ctx, lis)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// agent asks like HAProxy's agent-check: connect, read one line.
func agent(t *testing.T, addr, send string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if send != "" {
		io.WriteString(c, send)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("agent read: %v (got %q)", err, line)
	}
	return line
}

func get(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerHTTPAndAgent(t *testing.T) {
	src := &fakeSource{}
	up := report.Node{Role: pki.RoleSecondary, Started: time.Now(), Folders: []report.Folder{{ID: "data"}},
		Peers: []report.Peer{{Role: pki.RolePrimary, Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 5, CatchUpTo: 5}}}}}
	src.set(up)
	addr := startServer(t, src)

	if code, body := get(t, addr); code != 200 || !strings.HasPrefix(body, "up: ") {
		t.Errorf("HTTP when up: %d %q", code, body)
	}
	if line := agent(t, addr, ""); line != "up #in step with the primary\n" {
		t.Errorf("agent when up: %q", line)
	}
	if line := agent(t, addr, "ncsync\n"); !strings.HasPrefix(line, "up #") { // agent-send
		t.Errorf("agent with agent-send when up: %q", line)
	}

	paused := up
	paused.Paused = true
	src.set(paused)
	if code, body := get(t, addr); code != 503 || !strings.HasPrefix(body, "drain: paused") {
		t.Errorf("HTTP when paused: %d %q", code, body)
	}
	if line := agent(t, addr, ""); !strings.HasPrefix(line, "drain #paused") {
		t.Errorf("agent when paused: %q", line)
	}

	down := up
	down.Peers = []report.Peer{{Role: pki.RolePrimary, Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 1, CatchingUp: true, CatchUpTo: 9}}}}
	src.set(down)
	if code, body := get(t, addr); code != 503 || body != "down: catching up: folder data at 1 of 9\n" {
		t.Errorf("HTTP when catching up: %d %q", code, body)
	}
	if line := agent(t, addr, ""); line != "down #catching up: folder data at 1 of 9\n" {
		t.Errorf("agent when catching up: %q", line)
	}

	resp, err := http.Get("http://" + addr + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/other: %d", resp.StatusCode)
	}
}

func TestAgentLineOneLine(t *testing.T) {
	if got := AgentLine(Verdict{Down, "bad\nup #forged"}); got != "down #bad up #forged\n" {
		t.Errorf("a reason with a newline: %q", got)
	}
}
