package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry of src's report, ev (may be nil), and
// the Go runtime's and the process's own metrics.
func NewRegistry(src Source, ev *Events) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if ev != nil {
		reg.MustRegister(ev)
	}
	return reg
}

// Handler serves reg in the Prometheus exposition formats at /metrics.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // a partial scrape beats none
		Timeout:       statusTimeout + 5*time.Second,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ncsync metrics: /metrics\n"))
	})
	return mux
}

// Serve answers on lis until ctx ends.
func Serve(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Names lists every metric of ncsync's own (not the Go runtime's or the
// process's) that a node may export, sorted.
func Names() []string {
	names := []string{scanSecondsName, scanErrorsName, barriersName, barrierSecondsName}
	for _, d := range reportDescs {
		names = append(names, d.name)
	}
	slices.Sort(names)
	return names
}
