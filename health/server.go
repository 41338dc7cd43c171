package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ncsync/ncsync/report"
)

// Source gives the node's report; Status may be called concurrently.
type Source interface {
	Status(ctx context.Context) (report.Node, error)
}

// Server answers health checks on one listener.
type Server struct {
	src Source
	log *slog.Logger
	now func() time.Time

	mu sync.Mutex
	th Thresholds
}

// sniff is how long a new connection may stay silent before it is taken
// for an agent check (HAProxy's agent connects and waits for a line; an
// HTTP client speaks first).
const sniff = 300 * time.Millisecond

// reportTimeout bounds how long a check waits for the node's report: a
// node that cannot report is down.
const reportTimeout = 2 * time.Second

// NewServer returns a Server judging src's reports with th.
func NewServer(src Source, th Thresholds, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{src: src, th: th, log: log, now: time.Now}
}

// SetThresholds changes the thresholds (config reload).
func (s *Server) SetThresholds(th Thresholds) {
	s.mu.Lock()
	s.th = th
	s.mu.Unlock()
}

// Check returns the node's verdict now.
func (s *Server) Check(ctx context.Context) Verdict {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	st, err := s.src.Status(ctx)
	if err != nil {
		return Verdict{Down, "no status report: " + err.Error()}
	}
	s.mu.Lock()
	th := s.th
	s.mu.Unlock()
	return Evaluate(st, th, s.now())
}

// Serve answers on lis until ctx ends: HTTP GET /health, or an agent-check
// line for a connection that does not speak HTTP.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	httpConns := newChanListener(lis.Addr())
	hs := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { hs.Serve(httpConns) })
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = lis.Accept()
		if err != nil {
			break
		}
		wg.Go(func() { s.route(ctx, c, httpConns) })
	}
	hs.Close()
	httpConns.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("health: %w", err)
}

// route peeks at a new connection: HTTP goes to the HTTP server, anything
// else (silence, or an agent-send string) gets an agent line.
func (s *Server) route(ctx context.Context, c net.Conn, httpConns *chanListener) {
	c.SetReadDeadline(time.Now().Add(sniff))
	br := bufio.NewReader(c)
	head, _ := br.Peek(4)
	c.SetReadDeadline(time.Time{})
	switch string(head) {
	case "GET ", "HEAD", "POST", "PUT ", "OPTI":
		if !httpConns.hand(&peekedConn{Conn: c, r: br}) {
			c.Close()
		}
		return
	}
	defer c.Close()
	v := s.Check(ctx)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, AgentLine(v))
}

// AgentLine is the agent-check answer: "up", "drain" or "down", then the
// reason after '#' (HAProxy shows it in its stats), then a newline.
func AgentLine(v Verdict) string {
	return v.State.String() + " #" + oneLine(v.Reason) + "\n"
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" && r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	v := s.Check(r.Context())
	code := http.StatusOK
	if v.State != Up {
		// drain too: HTTP checks have no "drain"; a paused secondary serves
		// an old state and should take no new users.
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "%s: %s\n", v.State, oneLine(v.Reason))
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// peekedConn is a connection whose first bytes sit in r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener hands routed connections to http.Server.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
