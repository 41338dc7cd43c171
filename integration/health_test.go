package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healthAnswer asks node's health port both ways a load balancer does:
// HTTP GET /health and HAProxy's agent-check (connect, read a line).
func healthAnswer(t *testing.T, addr string) (code int, body, agent string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/health")
	if err != nil {
		return 0, err.Error(), ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return resp.StatusCode, string(b), err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return resp.StatusCode, string(b), line
}

// TestHealthCheck follows a secondary's health answer through a
// disconnection and a catch-up: up while in step, down once the primary has
// been gone for health.max_disconnected, down while catching up after it
// returns with changes, up again once caught up.
func TestHealthCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const maxDisc = 2 * time.Second
	c := newCluster(t, clusterOptions{extraConfig: func(name string) string {
		if name == primaryName {
			return ""
		}
		return fmt.Sprintf("health_listen: %s\nhealth: {max_lag: 30s, max_disconnected: %s}\n", addr, maxDisc)
	}})
	c.start(primaryName)
	c.start("nfs2")
	data := c.tree(primaryName, "data")
	for i := range 20 {
		writeFile(t, filepath.Join(data, fmt.Sprintf("f%02d.txt", i)), []byte(strings.Repeat("x", i+1)), 0o644)
	}
	c.waitConsistent(t.Context(), "nfs2")

	state := func() (string, string) {
		code, body, agent := healthAnswer(t, addr)
		http := "up"
		if code != 200 {
			http = "not up"
		}
		return http + ": " + body, agent
	}
	waitState := func(want string, within time.Duration) {
		t.Helper()
		var h, a string
		waitFor(t, within, func() string { return fmt.Sprintf("want %s; HTTP %q, agent %q", want, h, a) }, func() bool {
			h, a = state()
			httpOK := strings.HasPrefix(h, "up: up") == (want == "up")
			return httpOK && strings.HasPrefix(a, want+" #")
		})
	}
	waitState("up", 10*time.Second)

	// The primary goes away: still up within max_disconnected, then down.
	stopping := time.Now()
	c.stop(primaryName)
	waitState("down", maxDisc+5*time.Second)
	if d := time.Since(stopping); d < maxDisc {
		t.Errorf("down %v after the primary stopped, before max_disconnected (%v)", d, maxDisc)
	}
	_, agent := state()
	if !strings.Contains(agent, "disconnected") {
		t.Errorf("agent reason %q does not say disconnected", agent)
	}

	// Changes made meanwhile: after the primary returns, the secondary is
	// down until it holds them, then up.
	for i := range 200 {
		writeFile(t, filepath.Join(data, fmt.Sprintf("new/g%03d.txt", i)), []byte(strings.Repeat("y", 4096+i)), 0o644)
	}
	os.Remove(filepath.Join(data, "f00.txt"))
	c.start(primaryName)
	waitState("up", 30*time.Second)
	c.waitConsistent(t.Context(), "nfs2")
	waitState("up", 5*time.Second)
}
