package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/rackwatch/rackwatch/agent/promtext"
)

// Source is what the agent exposes to the endpoints.
type Source interface {
	// Health is nil when the agent is delivering; otherwise it says what is wrong.
	Health() error
	WriteMetrics(w *promtext.Writer)
	Status() Status
}

// Server is the running HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	open, peak int // connections open now, and at most so far
}

// Bounds of the server: whoever reaches the port must not be able to hold the agent's memory or its
// connections (a status page and a scrape need a few). Variables so that tests can shrink them.
var (
	// maxConns bounds the connections open at once; further ones wait in the kernel's accept queue.
	maxConns          = 16
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	// idleTimeout closes a kept-alive connection that sends no new request.
	idleTimeout    = 30 * time.Second
	maxHeaderBytes = 8 << 10
)

// Start listens on addr and serves until Close.
func Start(addr string, src Source, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", addr, err)
	}
	s := &Server{}
	// Connections are counted under the limit (a counting listener inside LimitListener): a connection
	// is uncounted before its slot is given back, so the count never exceeds the bound. Counting with
	// http.Server.ConnState did: the next connection's StateNew could run before the last one's
	// StateClosed.
	ln = netutil.LimitListener(&countingListener{Listener: ln, s: s}, maxConns)
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := src.Health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		pw := promtext.New(w)
		src.WriteMetrics(pw)
		writeRuntime(w)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		writePage(w, src.Status())
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go s.srv.Serve(ln)
	return s, nil
}

// countingListener counts open connections, for /metrics and the tests.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.open++
	l.s.peak = max(l.s.peak, l.s.open)
	l.s.mu.Unlock()
	return &countedConn{Conn: c, s: l.s}, nil
}

type countedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.open--
		c.s.mu.Unlock()
	})
	return err
}

// Conns returns the connections open now and the most that were open at once.
func (s *Server) Conns() (open, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.peak
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
