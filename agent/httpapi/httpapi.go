package httpapi

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"
)

// Source is what the agent exposes to the endpoints.
type Source interface {
	// Health is nil when the agent is delivering; otherwise it says what is wrong.
	Health() error
	WriteMetrics(w io.Writer)
	Status() Status
}

// Status is the content of the status page.
type Status struct {
	Gateway, Site, Version string
	Started                time.Time
	Alarms                 []AlarmRow
	Readings               []ReadingRow
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
}

// Start listens on addr and serves until Close.
func Start(addr string, src Source, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", addr, err)
	}
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
		src.WriteMetrics(w)
		writeRuntime(w)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		st := src.Status()
		if err := page.Execute(w, st); err != nil {
			log.Warn("status page", "err", err)
		}
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func writeRuntime(w io.Writer) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintln(w, "# HELP rackwatch_go_heap_bytes Bytes of allocated heap objects.")
	fmt.Fprintln(w, "# TYPE rackwatch_go_heap_bytes gauge")
	fmt.Fprintf(w, "rackwatch_go_heap_bytes %d\n", m.HeapAlloc)
	fmt.Fprintln(w, "# HELP rackwatch_go_sys_bytes Bytes obtained from the OS by the Go runtime.")
	fmt.Fprintln(w, "# TYPE rackwatch_go_sys_bytes gauge")
	fmt.Fprintf(w, "rackwatch_go_sys_bytes %d\n", m.Sys)
	fmt.Fprintln(w, "# HELP rackwatch_goroutines Goroutines running.")
	fmt.Fprintln(w, "# TYPE rackwatch_goroutines gauge")
	fmt.Fprintf(w, "rackwatch_goroutines %d\n", runtime.NumGoroutine())
}

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() },
	"dur": func(d time.Duration) string { return d.Truncate(100 * time.Millisecond).String() },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>rackwatch {{.Gateway}}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.critical{background:#fdd}.warning{background:#ffd}.bad{color:#a00}</style></head>
<body><h1>rackwatch {{.Gateway}}{{if .Site}} — {{.Site}}{{end}}</h1>
<p>version {{.Version}}, up {{ago .Started}}</p>
<h2>Alarms</h2>
{{if .Alarms}}<table><tr><th>severity</th><th>alarm</th><th>state</th><th>acked</th><th>since</th><th>message</th></tr>
{{range .Alarms}}<tr class="{{.Severity}}"><td>{{.Severity}}</td><td>{{.Key}}</td><td>{{.State}}{{if .Shelved}} (shelved){{end}}</td><td>{{.Acked}}</td><td>{{ago .Since}} ago</td><td>{{.Message}}</td></tr>
{{end}}</table>{{else}}<p>No alarms.</p>{{end}}
<h2>Readings</h2>
<table><tr><th>sensor</th><th>channel</th><th>value</th><th>age</th><th>quality</th></tr>
{{range .Readings}}<tr{{if eq .Quality "bad"}} class="bad"{{end}}><td>{{.Sensor}}</td><td>{{.Channel}}</td><td>{{.Value}} {{.Unit}}</td><td>{{dur .Age}}</td><td>{{.Quality}} {{.Error}}</td></tr>
{{end}}</table></body></html>
`))
