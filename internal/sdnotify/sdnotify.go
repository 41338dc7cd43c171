// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): readiness, status lines, reload and stop notices, and
// watchdog keep-alives, sent as datagrams to the socket systemd names in
// $NOTIFY_SOCKET. Outside systemd every call is a no-op.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Messages of the protocol.
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
)

// Status is the one-line state `systemctl status` shows.
func Status(line string) string {
	return "STATUS=" + strings.ReplaceAll(line, "\n", " ")
}

// Notifier sends to one notification socket. The zero value, and one made
// where $NOTIFY_SOCKET is unset, sends nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns the Notifier of $NOTIFY_SOCKET (empty outside systemd).
func FromEnv() Notifier {
	return New(os.Getenv("NOTIFY_SOCKET"))
}

// New returns a Notifier for socket path (a leading '@' names an abstract
// socket, as systemd writes it). An empty path gives a no-op Notifier.
func New(path string) Notifier {
	if path == "" {
		return Notifier{}
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	return Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Enabled reports whether notifications go anywhere.
func (n Notifier) Enabled() bool { return n.addr != nil }

// Send sends the given assignments (e.g. Ready, Status("…")) in one datagram.
func (n Notifier) Send(msgs ...string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(msgs, "\n"))); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// WatchdogInterval returns how often systemd expects a keep-alive
// ($WATCHDOG_USEC), or false when no watchdog is set for this process
// ($WATCHDOG_PID names another one).
func WatchdogInterval() (time.Duration, bool, error) {
	us := os.Getenv("WATCHDOG_USEC")
	if us == "" {
		return 0, false, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(us, 10, 63)
	if err != nil || n == 0 {
		return 0, false, errors.New("WATCHDOG_USEC=" + us + " is not a positive number of microseconds")
	}
	return time.Duration(n) * time.Microsecond, true, nil
}
