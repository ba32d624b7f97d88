package httpapi

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
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

// Status is the content of the status page.
type Status struct {
	Gateway, Site, Version string
	Started                time.Time
	Alarms                 []AlarmRow
	Readings               []ReadingRow
	// Outputs and Shutdown are the local actions' state (empty when none are configured).
	Outputs  []OutputRow
	Shutdown string
}

// OutputRow is one output on the status page.
type OutputRow struct {
	ID, Type, Role, State, Describe string
	// Wanted: the actions (or a test) want it on; OK: its last switching succeeded.
	Wanted, OK bool
	Since      time.Time
	// Last is the last action's message.
	Last string
}

// AlarmRow is one alarm on the status page.
type AlarmRow struct {
	Severity, Key, State, Message string
	Acked, Shelved                bool
	Since                         time.Time
}

// ReadingRow is one sensor channel on the status page.
type ReadingRow struct {
	Sensor, Channel, Value, Unit, Quality, Error string
	Age                                          time.Duration
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
		writeRuntime(pw)
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

func writeRuntime(w *promtext.Writer) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.One("rackwatch_go_heap_bytes", "Bytes of allocated heap objects.", promtext.Gauge, float64(m.HeapAlloc))
	w.One("rackwatch_go_sys_bytes", "Bytes obtained from the OS by the Go runtime.", promtext.Gauge, float64(m.Sys))
	w.One("rackwatch_goroutines", "Goroutines running.", promtext.Gauge, float64(runtime.NumGoroutine()))
}

// writePage renders the status page. It is written out by hand with every value escaped, rather than with
// html/template, which would add a template engine to a binary that must fit small gateways.
func writePage(w io.Writer, st Status) {
	e := html.EscapeString
	ago := func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() }
	site := ""
	if st.Site != "" {
		site = " — " + e(st.Site)
	}
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>rackwatch %s</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.critical{background:#fdd}.warning{background:#ffd}.bad{color:#a00}</style></head>
<body><h1>rackwatch %s%s</h1>
<p>version %s, up %s</p>
<h2>Alarms</h2>
`, e(st.Gateway), e(st.Gateway), site, e(st.Version), ago(st.Started))
	if len(st.Alarms) == 0 {
		io.WriteString(w, "<p>No alarms.</p>\n")
	} else {
		io.WriteString(w, "<table><tr><th>severity</th><th>alarm</th><th>state</th><th>acked</th><th>since</th><th>message</th></tr>\n")
		for _, a := range st.Alarms {
			state := e(a.State)
			if a.Shelved {
				state += " (shelved)"
			}
			fmt.Fprintf(w, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%t</td><td>%s ago</td><td>%s</td></tr>\n",
				e(a.Severity), e(a.Severity), e(a.Key), state, a.Acked, ago(a.Since), e(a.Message))
		}
		io.WriteString(w, "</table>\n")
	}
	writeOutputs(w, st)
	io.WriteString(w, "<h2>Readings</h2>\n<table><tr><th>sensor</th><th>channel</th><th>value</th><th>age</th><th>quality</th></tr>\n")
	for _, r := range st.Readings {
		class := ""
		if r.Quality == "bad" {
			class = ` class="bad"`
		}
		fmt.Fprintf(w, "<tr%s><td>%s</td><td>%s</td><td>%s %s</td><td>%s</td><td>%s %s</td></tr>\n", class,
			e(r.Sensor), e(r.Channel), e(r.Value), e(r.Unit), r.Age.Truncate(100*time.Millisecond), e(r.Quality), e(r.Error))
	}
	io.WriteString(w, "</table></body></html>\n")
}

// writeOutputs renders the outputs and the shutdown sequence, when there are any.
func writeOutputs(w io.Writer, st Status) {
	e := html.EscapeString
	if len(st.Outputs) > 0 {
		io.WriteString(w, "<h2>Outputs</h2>\n<table><tr><th>output</th><th>type</th><th>state</th><th>wanted</th><th>since</th><th>last action</th></tr>\n")
		for _, o := range st.Outputs {
			class, wanted, since := "", "off", ""
			if o.Wanted {
				wanted = "on"
			}
			if !o.OK {
				class = ` class="bad"`
			}
			if !o.Since.IsZero() {
				since = time.Since(o.Since).Truncate(time.Second).String() + " ago"
			}
			role := ""
			if o.Role != "" {
				role = " (" + e(o.Role) + ")"
			}
			fmt.Fprintf(w, "<tr%s><td title=\"%s\">%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", class,
				e(o.Describe), e(o.ID), role, e(o.Type), e(o.State), wanted, since, e(o.Last))
		}
		io.WriteString(w, "</table>\n")
	}
	if st.Shutdown != "" {
		fmt.Fprintf(w, "<h2>Shutdown</h2>\n<p>%s</p>\n", e(st.Shutdown))
	}
}
