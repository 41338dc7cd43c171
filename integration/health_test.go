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

// healthState is node's health answer: over HTTP ("up: <body>" or "not
// up: <body>") and through the agent.
func healthState(t *testing.T, addr string) (string, string) {
	code, body, agent := healthAnswer(t, addr)
	http := "up"
	if code != 200 {
		http = "not up"
	}
	return http + ": " + body, agent
}

// waitHealth waits until the health answer at addr is want ("up", "drain"
// or "down") both ways.
func waitHealth(t *testing.T, addr, want string, within time.Duration) {
	t.Helper()
	var h, a string
	waitFor(t, within, func() string { return fmt.Sprintf("want %s; HTTP %q, agent %q", want, h, a) }, func() bool {
		h, a = healthState(t, addr)
		httpOK := strings.HasPrefix(h, "up: up") == (want == "up")
		return httpOK && strings.HasPrefix(a, want+" #")
	})
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

	state := func() (string, string) { return healthState(t, addr) }
	waitState := func(want string, within time.Duration) {
		t.Helper()
		waitHealth(t, addr, want, within)
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

// TestHealthDrainsPausedSecondary: on an idle cluster, `ncsync pause`
// makes the secondary answer drain (HTTP and agent) and report itself
// paused, also after it restarts during the pause; resume makes it up and
// not paused again.
func TestHealthDrainsPausedSecondary(t *testing.T) {
	skipShort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := newCluster(t, clusterOptions{extraConfig: func(name string) string {
		if name == primaryName {
			return ""
		}
		return fmt.Sprintf("health_listen: %s\nhealth: {max_lag: 30s, max_disconnected: 30s}\n", addr)
	}})
	c.start(primaryName)
	c.start("nfs2")
	data := c.tree(primaryName, "data")
	for i := range 5 {
		writeFile(t, filepath.Join(data, fmt.Sprintf("f%d.txt", i)), []byte(strings.Repeat("x", i+1)), 0o644)
	}
	c.waitConsistent(t.Context(), "nfs2")
	waitHealth(t, addr, "up", 10*time.Second)

	primarySock, secondarySock := c.node(primaryName).socket, c.node("nfs2").socket
	c.mustCLI("pause", "--socket", primarySock, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	pauseID := c.mustStatus(primaryName).Pauses[0].ID
	paused := func(when string) {
		t.Helper()
		waitHealth(t, addr, "drain", 10*time.Second)
		if _, agent := healthState(t, addr); !strings.Contains(agent, "paused") {
			t.Errorf("%s: agent reason %q does not say paused", when, agent)
		}
		st := c.mustStatus("nfs2")
		if !st.Paused || len(st.Pauses) != 1 || st.Pauses[0].ID != pauseID || st.Pauses[0].Since.IsZero() || st.Pauses[0].Hold["data"] == 0 {
			t.Errorf("%s: the secondary reports paused %v, pauses %+v; want pause %s with its start and hold point", when, st.Paused, st.Pauses, pauseID)
		}
		if out := c.mustCLI("status", "--socket", secondarySock); !strings.Contains(out, "paused for a snapshot") || !strings.Contains(out, pauseID) {
			t.Errorf("%s: `ncsync status` on the secondary does not show the pause:\n%s", when, out)
		}
		if ps := c.mustStatus(primaryName).Peers; len(ps) != 1 || !ps[0].Paused {
			t.Errorf("%s: the primary reports peers %+v, want nfs2 paused", when, ps)
		}
	}
	paused("after pause")

	// Restarted during the pause, it learns it again from its primary.
	c.stop("nfs2")
	c.start("nfs2")
	paused("after a restart of the secondary")

	c.mustCLI("resume", "--socket", primarySock, "--peer", "nfs2")
	waitHealth(t, addr, "up", 10*time.Second)
	if st := c.mustStatus("nfs2"); st.Paused || len(st.Pauses) != 0 {
		t.Errorf("after resume the secondary reports paused %v, pauses %+v", st.Paused, st.Pauses)
	}
	if ps := c.mustStatus(primaryName).Peers; len(ps) != 1 || ps[0].Paused {
		t.Errorf("after resume the primary reports peers %+v", ps)
	}
}
