package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ncsync/ncsync/internal/sdnotify"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// statusSource is what the service supervisor reads: the daemon's report.
type statusSource interface {
	Status(ctx context.Context) (report.Node, error)
}

// superviseService tells systemd (Type=notify) when the node is ready and
// what it is doing, and feeds the watchdog while the node's loops answer.
// It returns when ctx ends. Outside systemd it returns at once.
//
// Ready means: a primary has scanned every folder once and watches it; a
// secondary holds a session with its primary. Until then STATUS= says what
// the node waits for. The watchdog is fed only when a status report, which
// goes through the primary's or the secondary's own loops and index, comes
// back within half the watchdog interval: a daemon whose loops hang stops
// feeding it and systemd restarts it.
func superviseService(ctx context.Context, src statusSource, n sdnotify.Notifier, log *slog.Logger) {
	if !n.Enabled() {
		return
	}
	wd, wdOn, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("systemd watchdog ignored", "err", err)
	}
	poll := 500 * time.Millisecond
	if wdOn && wd/3 < poll {
		poll = wd / 3
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	ready := false
	lastLine, lastSent := "", time.Time{}
	for {
		select {
		case <-ctx.Done():
			n.Send(sdnotify.Stopping, sdnotify.Status("stopping"))
			return
		case <-tick.C:
		}
		timeout := 5 * time.Second
		if wdOn {
			timeout = wd / 2
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		st, err := src.Status(sctx)
		cancel()
		if ctx.Err() != nil {
			continue
		}
		var msgs []string
		if err == nil && wdOn {
			msgs = append(msgs, sdnotify.Watchdog)
		} else if err != nil && wdOn {
			log.Warn("no status report within the watchdog's half interval: not feeding the watchdog", "err", err)
		}
		line := serviceLine(st, err)
		if !ready && err == nil && nodeReady(st) {
			ready = true
			msgs = append(msgs, sdnotify.Ready)
			log.Info("ready", "status", line)
		}
		if line != lastLine || time.Since(lastSent) > time.Minute {
			msgs = append(msgs, sdnotify.Status(line))
			lastLine, lastSent = line, time.Now()
		}
		if len(msgs) > 0 {
			if err := n.Send(msgs...); err != nil {
				log.Warn("systemd notification", "err", err)
			}
		}
	}
}

// nodeReady: a primary has scanned every folder; a secondary is connected.
func nodeReady(st report.Node) bool {
	if st.Role == pki.RolePrimary {
		for _, f := range st.Folders {
			if f.Scans == 0 {
				return false
			}
		}
		return len(st.Folders) > 0
	}
	for _, p := range st.Peers {
		if p.Role == pki.RolePrimary && p.Connected {
			return true
		}
	}
	return false
}

// serviceLine is the one-line summary for `systemctl status`.
func serviceLine(st report.Node, err error) string {
	if err != nil {
		return "starting: " + err.Error()
	}
	var parts []string
	if st.Role == pki.RolePrimary {
		scanning, connected := 0, 0
		for _, f := range st.Folders {
			if f.Scans == 0 {
				scanning++
			}
			if f.LastError != "" {
				parts = append(parts, fmt.Sprintf("folder %s: %s", f.ID, f.LastError))
			}
		}
		for _, p := range st.Peers {
			if p.Connected {
				connected++
			}
		}
		head := fmt.Sprintf("primary, %d folders", len(st.Folders))
		if scanning > 0 {
			head += fmt.Sprintf(" (%d on their first scan)", scanning)
		}
		head += fmt.Sprintf(", %d of %d secondaries connected", connected, len(st.Peers))
		return strings.Join(append([]string{head}, parts...), "; ")
	}
	for _, p := range st.Peers {
		if p.Role != pki.RolePrimary {
			continue
		}
		if p.Connected {
			parts = append(parts, "secondary, following "+p.Node+" at "+p.Address)
		} else {
			s := "secondary, connecting to " + p.Node + " at " + p.Address
			if p.LastError != "" {
				s += ": " + p.LastError
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "secondary")
	}
	return strings.Join(parts, "; ")
}
