package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/health"
)

// healthThresholds are the config's health settings, defaults for zeros
// (a config built in code).
func healthThresholds(h config.Health) health.Thresholds {
	th := health.Thresholds{MaxLag: h.MaxLag, MaxDisconnected: h.MaxDisconnected}
	if th.MaxLag <= 0 {
		th.MaxLag = health.DefaultMaxLag
	}
	if th.MaxDisconnected <= 0 {
		th.MaxDisconnected = health.DefaultMaxDisconnected
	}
	return th
}

// listenHealth opens health_listen; serveHealth answers on it until ctx
// ends. Listening first makes a taken port an error at start.
func listenHealth(cfg *config.Config) (net.Listener, error) {
	if cfg.HealthListen == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", cfg.HealthListen)
	if err != nil {
		return nil, fmt.Errorf("health_listen %s: %w", cfg.HealthListen, err)
	}
	return lis, nil
}

func serveHealth(ctx context.Context, lis net.Listener, hs *health.Server, log *slog.Logger) error {
	log.Info("health check", "listen", lis.Addr().String())
	return hs.Serve(ctx, lis)
}

// startHealth makes the daemon's health server, whose thresholds a
// reload may change.
func (d *daemon) startHealth(th health.Thresholds) *health.Server {
	d.log.Info("health thresholds", "max_lag", th.MaxLag, "max_disconnected", th.MaxDisconnected)
	hs := health.NewServer(d, th, d.log)
	d.mu.Lock()
	d.health = hs
	d.mu.Unlock()
	return hs
}

// healthServer is the daemon's health server; nil without health_listen.
func (d *daemon) healthServer() *health.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.health
}
