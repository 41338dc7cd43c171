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
	tgtIf    string // the target end, inside ns
	disabled string // why no namespace is used, for the report
	// link is the emulated link: its rate by tc's tbf on both ends of the
	// veth pair (tbf set) or, without a namespace, by the proxies, which
	// also add its round-trip time.
	link Link
	tbf  bool
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
func setupTargetNet() *targetNet { return setupTargetNetN(0) }

// setupTargetNetN is setupTargetNet for the i-th of several receiving
// sides, each with a namespace, a veth pair and addresses of its own.
func setupTargetNetN(i int) *targetNet {
	if os.Geteuid() != 0 {
		return &targetNet{disabled: "not running as root"}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return &targetNet{disabled: "iproute2 (ip) is not installed"}
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	if i > 0 {
		id += "x" + strconv.Itoa(i)
	}
	host, target := vethAddrs(os.Getpid() + 997*i)
	t := &targetNet{ns: "ncbench-" + id, host: host, target: target, hostIf: "ncbh" + id, tgtIf: "ncbt" + id}
	tgtIf := t.tgtIf
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

// shape emulates l: its rate with tc's tbf on both ends of the veth pair
// when there is one (tc needed), else in the proxies, which also add its
// round-trip time (tc's netem is not used: many kernels lack it).
func (t *targetNet) shape(l Link) error {
	if t.tbf {
		if err := t.tc("del"); err != nil {
			return err
		}
		t.tbf = false
	}
	t.link = l
	if !t.netns() || l.Rate == 0 {
		return nil
	}
	if _, err := exec.LookPath("tc"); err != nil {
		return nil // the proxies pace instead
	}
	if err := t.tc("add", "tbf", "rate", strconv.FormatInt(l.Rate*8, 10)+"bit",
		"burst", strconv.FormatInt(linkBurst(l.Rate), 10), "latency", "100ms"); err != nil {
		t.tc("del")
		return err
	}
	t.tbf = true
	return nil
}

// tc runs `tc qdisc VERB dev IF root ARGS…` on both ends of the veth pair.
func (t *targetNet) tc(verb string, args ...string) error {
	for _, c := range [][]string{
		append([]string{"tc", "qdisc", verb, "dev", t.hostIf, "root"}, args...),
		append([]string{"ip", "netns", "exec", t.ns, "tc", "qdisc", verb, "dev", t.tgtIf, "root"}, args...),
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// proxyLink is what the proxies emulate: all of the link, less the rate
// when tbf paces it.
func (t *targetNet) proxyLink() Link {
	if t == nil {
		return Link{}
	}
	l := t.link
	if t.tbf {
		l.Rate = 0
	}
	return l
}

// startProxy starts a counting proxy to target where the target side
// dials it, carrying the emulated link.
func (t *targetNet) startProxy(target string) (*Proxy, error) {
	return StartLinkProxy(t.hostIP(), target, t.proxyLink())
}

// describeLink is the report's note on the emulated link, "" for none.
func (t *targetNet) describeLink() string {
	if t == nil || !t.link.Shaped() {
		return ""
	}
	var how []string
	if t.link.Rate > 0 {
		if t.tbf {
			how = append(how, fmt.Sprintf("rate %s by tc tbf (burst %d B, latency 100 ms) on both ends of the veth pair", FormatRate(t.link.Rate), linkBurst(t.link.Rate)))
		} else {
			how = append(how, fmt.Sprintf("rate %s each way by a token bucket (burst %d B) in the harness's proxies", FormatRate(t.link.Rate), linkBurst(t.link.Rate)))
		}
	}
	if t.link.RTT > 0 {
		how = append(how, fmt.Sprintf("round-trip time %s added by the proxies (half each way)", t.link.RTT))
	}
	return "link emulated: " + strings.Join(how, "; ")
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
