package main

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/internal/priority"
)

// applyLimits applies the process-wide caps of the config's limits section:
// the cores ncsync's workers may use (every worker pool is sized from
// GOMAXPROCS), and its CPU and I/O priority. The bandwidth caps are the
// transport server's (see runPrimary).
func applyLimits(l config.Limits, log *slog.Logger) error {
	if l.CPU > 0 {
		runtime.GOMAXPROCS(l.CPU)
	}
	if l.Nice > 0 {
		if err := priority.SetNice(l.Nice); err != nil {
			return fmt.Errorf("limits.nice: %w", err)
		}
	}
	if l.IONice != "" {
		class, level, err := config.ParseIONice(l.IONice)
		if err != nil {
			return fmt.Errorf("limits.ionice: %w", err)
		}
		if err := priority.SetIO(class, level); err != nil {
			return fmt.Errorf("limits.ionice: %w", err)
		}
	}
	if l != (config.Limits{}) {
		log.Info("limits", "cpu", runtime.GOMAXPROCS(0), "nice", l.Nice, "ionice", l.IONice,
			"bandwidth", l.Bandwidth, "bandwidth_per_peer", l.BandwidthPerPeer)
	}
	return nil
}
