package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/internal/priority"
	"github.com/ncsync/ncsync/internal/sdnotify"
	"github.com/ncsync/ncsync/pki"
)

// reloadOnHangup reloads the config (daemon.reload) at each SIGHUP until
// ctx ends, telling systemd (RELOADING=1, then READY=1 once the node is
// ready).
func reloadOnHangup(ctx context.Context, d *daemon, n sdnotify.Notifier, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := n.Send(sdnotify.Reloading, monotonicUsec()); err != nil {
			log.Warn("systemd notification", "err", err)
		}
		d.reload(log)
		// READY=1 again ends the reload for systemd; before the node was
		// ever ready it would end the start instead, which the service
		// supervisor announces itself (service.go).
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := d.Status(sctx)
		cancel()
		if err == nil && nodeReady(st) {
			if err := n.Send(sdnotify.Ready); err != nil {
				log.Warn("systemd notification", "err", err)
			}
		}
	}
}

// monotonicUsec is the MONOTONIC_USEC= systemd asks to go with
// RELOADING=1.
func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000)
}

// ignoreSetter is a node whose folders' ignore patterns can change while
// it runs (primary and secondary).
type ignoreSetter interface {
	SetIgnore(folder string, m *ignore.Matcher) error
}

// reload reads the config file again and applies what changed, if every
// changed key is reloadable (config.Keys); otherwise it changes nothing
// and logs the keys that need a restart. A config that does not load is
// refused the same way. The TLS files are read again in any case (the
// revocation list), and a primary then ends the sessions of revoked
// certificates.
func (d *daemon) reload(log *slog.Logger) {
	log.Info("SIGHUP: reloading the config", "config", fmt.Sprintf("%q", d.cfg.Path))
	if err := d.tlsm.reloadTLS(log); err != nil {
		log.Warn("reload: could not read the TLS material again; keeping what is in use", "err", err)
	}
	if n, ok := d.current().(primaryNode); ok {
		n.srv.Recheck()
	}
	cur := d.live.Load()
	next, err := config.Load(cur.Path)
	if err != nil {
		log.Error("reload refused: the config does not load; still running on the one in use", "err", err)
		return
	}
	changes := cur.Changes(next)
	var fixed, changed []string
	for _, c := range changes {
		changed = append(changed, c.Key)
		if !c.Reloadable {
			fixed = append(fixed, c.Key)
		}
	}
	if len(fixed) > 0 {
		log.Error("reload refused: a change of these keys needs a restart; still running on the config in use (change them back, or restart ncsync)",
			"keys", strings.Join(fixed, ", "))
		return
	}
	if len(changes) == 0 {
		log.Info("reload: the config did not change")
		return
	}
	// Everything that can fail on a bad value is prepared first, so that
	// a reload applies whole or not at all.
	matchers := map[string]*ignore.Matcher{}
	for i, f := range next.Folders {
		if ignoreChanged(cur.Folders[i], f) {
			m, err := ignore.New(f.IgnorePatterns())
			if err != nil {
				log.Error("reload refused: still running on the config in use", "folder", f.ID, "err", err)
				return
			}
			matchers[f.ID] = m
		}
	}
	d.live.Store(next)
	node := d.current()
	if d.hooks.level != nil {
		d.hooks.level.Set(next.Log.Level)
	} else if cur.Log.Level != next.Log.Level {
		log.Warn("reload: log.level is set by --log-level and stays", "log.level", next.Log.Level)
	}
	if err := reloadLimits(cur.Limits, next.Limits); err != nil {
		log.Warn("reload: limits not fully applied", "err", err)
	}
	if n, ok := node.(primaryNode); ok {
		n.srv.SetBandwidth(next.Limits.Bandwidth, next.Limits.BandwidthPerPeer)
		if d.cfg.Role == pki.RolePrimary { // a promoted node serves promote.secondaries
			n.SetSecondaries(next.Secondaries)
		}
	}
	if hs := d.healthServer(); hs != nil {
		hs.SetThresholds(healthThresholds(next.Health))
	}
	if s, ok := node.(ignoreSetter); ok {
		for id, m := range matchers {
			if err := s.SetIgnore(id, m); err != nil {
				log.Warn("reload: ignore patterns not applied", "folder", id, "err", err)
			}
		}
	}
	log.Info("reloaded the config", "changed", strings.Join(changed, ", "))
}

func ignoreChanged(a, b config.Folder) bool {
	return a.NoDefaultIgnores != b.NoDefaultIgnores || !slices.Equal(a.Ignore, b.Ignore)
}

// reloadLimits applies the process-wide limits that changed from old to
// next; a limit removed goes back to the default (all cores, nice 0,
// best-effort I/O).
func reloadLimits(old, next config.Limits) error {
	var errs []string
	if old.CPU != next.CPU {
		if next.CPU > 0 {
			runtime.GOMAXPROCS(next.CPU)
		} else {
			runtime.SetDefaultGOMAXPROCS()
		}
	}
	if old.Nice != next.Nice {
		if err := priority.SetNice(next.Nice); err != nil {
			errs = append(errs, "limits.nice: "+err.Error())
		}
	}
	if old.IONice != next.IONice {
		class, level := config.IOClassBestEffort, 4
		if next.IONice != "" {
			var err error
			if class, level, err = config.ParseIONice(next.IONice); err != nil {
				errs = append(errs, "limits.ionice: "+err.Error())
			}
		}
		if err := priority.SetIO(class, level); err != nil {
			errs = append(errs, "limits.ionice: "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
