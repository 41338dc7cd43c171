package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/metrics"
	"github.com/ncsync/ncsync/primary"
)

// listenMetrics opens metrics_listen (nil when unset); serveMetrics
// answers on it until ctx ends. Listening first makes a taken port an
// error at start.
func listenMetrics(cfg *config.Config) (net.Listener, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
	}
	return lis, nil
}

func serveMetrics(ctx context.Context, lis net.Listener, src metrics.Source, ev *metrics.Events, log *slog.Logger) error {
	log.Info("metrics", "listen", lis.Addr().String(), "path", "/metrics")
	return metrics.Serve(ctx, lis, metrics.Handler(metrics.NewRegistry(src, ev), log))
}

// onScan feeds a primary's scans to ev; nil without metrics.
func onScan(ev *metrics.Events) func(primary.ScanDone) {
	if ev == nil {
		return nil
	}
	return func(sd primary.ScanDone) { ev.Scan(sd.Folder, string(sd.Kind), sd.Took, sd.Err) }
}
