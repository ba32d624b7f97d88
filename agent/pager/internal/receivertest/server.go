package receivertest

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// server is an HTTP server on a fixed loopback address that can be stopped and started again.
type server struct {
	t       testing.TB
	addr    string
	handler http.Handler

	mu      sync.Mutex
	srv     *http.Server
	scripts []Reply // answers for the next requests, in order
	calls   int
}

// Reply is a scripted answer.
type Reply struct {
	Status     int
	RetryAfter string
	Body       string
}

func newServer(t testing.TB, h http.Handler) *server {
	s := &server{t: t, handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.dispatch), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	var rep *Reply
	if len(s.scripts) > 0 {
		rep = &s.scripts[0]
		s.scripts = s.scripts[1:]
	}
	s.mu.Unlock()
	if rep != nil {
		io.Copy(io.Discard, r.Body)
		if rep.RetryAfter != "" {
			w.Header().Set("Retry-After", rep.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		io.WriteString(w, rep.Body)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// URL is the server's base URL.
func (s *server) URL() string { return "http://" + s.addr }

// Script makes the next requests get these answers, whatever they are.
func (s *server) Script(r ...Reply) {
	s.mu.Lock()
	s.scripts = append(s.scripts, r...)
	s.mu.Unlock()
}

// Calls is how many requests arrived.
func (s *server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Stop closes the port: connections are refused until Start.
func (s *server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start listens again on the same address.
func (s *server) Start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("cannot listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}
