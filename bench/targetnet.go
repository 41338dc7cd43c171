package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// targetNet says where the target side of a tool runs: on loopback with
// the source side (the zero value or nil), or in a network namespace of
// its own, reached over a veth pair whose interface counters give the
// bytes on the wire.
type targetNet struct {
	ns       string // network namespace of the target side; "" for none
	host     string // the source side's address, as the target reaches it
	target   string // the target side's address
	hostIf   string // the host end of the veth pair
	disabled string // why no namespace is used, for the report
}

// loopback is the target side on 127.0.0.1.
var loopback = &targetNet{}

// vethAddrs returns the addresses of the veth pair of the harness with
// process id pid: link-local (on no network but this machine's own
// namespaces), in a /30 of 169.254.1.0–169.254.250.255 chosen by pid, so
// that harnesses running at once (the test packages of `go test ./...`)
// do not claim the same host address on two interfaces, which leaves one
// of them unreachable.
func vethAddrs(pid int) (host, target string) {
	n := pid % (250 * 64)
	a, b := 1+n/64, n%64*4
	return fmt.Sprintf("169.254.%d.%d", a, b+1), fmt.Sprintf("169.254.%d.%d", a, b+2)
}

// setupTargetNet creates a network namespace joined to the host by a
// veth pair. It needs root and iproute2; otherwise it returns loopback
// with the reason in disabled.
func setupTargetNet() *targetNet {
	if os.Geteuid() != 0 {
		return &targetNet{disabled: "not running as root"}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return &targetNet{disabled: "iproute2 (ip) is not installed"}
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	host, target := vethAddrs(os.Getpid())
	t := &targetNet{ns: "ncbench-" + id, host: host, target: target, hostIf: "ncbh" + id}
	tgtIf := "ncbt" + id
	steps := [][]string{
		{"netns", "add", t.ns},
		{"link", "add", t.hostIf, "type", "veth", "peer", "name", tgtIf},
		{"link", "set", tgtIf, "netns", t.ns},
		{"addr", "add", t.host + "/30", "dev", t.hostIf},
		{"link", "set", t.hostIf, "up"},
		{"-n", t.ns, "addr", "add", t.target + "/30", "dev", tgtIf},
		{"-n", t.ns, "link", "set", tgtIf, "up"},
		{"-n", t.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.teardown()
			return &targetNet{disabled: fmt.Sprintf("network namespace setup failed: %v", err)}
		}
	}
	return t
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// teardown removes the namespace (and with it the veth pair).
func (t *targetNet) teardown() {
	if t == nil || t.ns == "" {
		return
	}
	_ = ipCmd("link", "del", t.hostIf)
	_ = ipCmd("netns", "del", t.ns)
}

// describe is the report's note on where the target side ran.
func (t *targetNet) describe() string {
	if t == nil || t.ns == "" {
		why := ""
		if t != nil && t.disabled != "" {
			why = " (" + t.disabled + ")"
		}
		return "network: receiving side on loopback with the sending side" + why +
			"; bytes on the wire are TCP payload both ways through a counting proxy in the harness (TLS and protocol framing included, TCP/IP headers not)"
	}
	return fmt.Sprintf("network: receiving side (ncsync secondary, rsync daemon, Syncthing receive-only) in network namespace %q, reached over a veth pair (%s ↔ %s, MTU 1500); bytes on the wire are the veth interface counters both ways (Ethernet frames: TCP/IP headers, TLS and protocol framing included)",
		t.ns, t.host, t.target)
}

// netns reports whether the target side has a namespace of its own.
func (t *targetNet) netns() bool { return t != nil && t.ns != "" }

// counters reads the host end's byte counters: sent to the target side and
// received from it.
func (t *targetNet) counters() (toTarget, toSource int64) {
	read := func(name string) int64 {
		b, err := os.ReadFile("/sys/class/net/" + t.hostIf + "/statistics/" + name)
		if err != nil {
			return 0
		}
		v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v
	}
	return read("tx_bytes"), read("rx_bytes")
}

// hostIP is where listeners that the target side dials listen.
func (t *targetNet) hostIP() string {
	if t == nil || t.ns == "" {
		return "127.0.0.1"
	}
	return t.host
}

// targetIP is where the target side's own listeners listen.
func (t *targetNet) targetIP() string {
	if t == nil || t.ns == "" {
		return "127.0.0.1"
	}
	return t.target
}

// command builds a command that runs on the target side.
func (t *targetNet) command(name string, args ...string) *exec.Cmd {
	if t == nil || t.ns == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", t.ns, name}, args...)...)
}

// wireMeter reads the bytes on the wire of one tool: the veth counters
// when the target side has a namespace, else the tool's proxies.
type wireMeter struct {
	tn    *targetNet
	proxy func() (toTarget, toSource int64)
}

func (w wireMeter) read() (toTarget, toSource int64) {
	if w.tn.netns() {
		return w.tn.counters()
	}
	if w.proxy == nil {
		return 0, 0
	}
	return w.proxy()
}
