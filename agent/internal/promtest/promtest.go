// Package promtest runs a real Prometheus server for tests: it scrapes a target every second, and
// queries go through its HTTP API as Grafana's would.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/internal/freeport"
)

// Binary returns the prometheus executable, or skips with the install command (fails under
// RACKWATCH_REQUIRE_INTEGRATION=1).
func Binary(t testing.TB) string {
	t.Helper()
	return peer.Binary(t, "prometheus", "/usr/bin/prometheus", "/usr/local/bin/prometheus", "prometheus")
}

// Server is a running Prometheus.
type Server struct {
	t   testing.TB
	URL string
	cmd *exec.Cmd
	out peer.Output
}

// Start runs Prometheus scraping http://target/metrics every second as job "rackwatch"; it is stopped
// when the test ends.
func Start(t testing.TB, target string) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: rackwatch\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Get(t))
	s := &Server{t: t, URL: "http://" + addr}
	s.cmd = exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return s
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string
	Value  string
}

// Query runs an instant query and returns its samples; a query Prometheus refuses fails the test.
func (s *Server) Query(q string) []Sample {
	s.t.Helper()
	samples, err := s.query(q)
	if err != nil {
		s.t.Fatalf("query %s: %v\nprometheus said:\n%s", q, err, s.out.String())
	}
	return samples
}

func (s *Server) query(q string) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/query?query="+url.QueryEscape(q), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	var r struct {
		Status, Error string
		Data          struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	var out []Sample
	switch r.Data.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string
			Value  [2]any
		}
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return nil, err
		}
		for _, e := range v {
			val, _ := e.Value[1].(string)
			out = append(out, Sample{Metric: e.Metric, Value: val})
		}
	case "scalar":
		var v [2]any
		json.Unmarshal(r.Data.Result, &v)
		val, _ := v[1].(string)
		out = append(out, Sample{Value: val})
	}
	return out, nil
}

// WaitFor queries q until cond holds for its samples or a generous timeout passes (a failure timeout,
// not a measurement); it returns the last samples.
func (s *Server) WaitFor(q string, cond func([]Sample) bool) []Sample {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		samples, err := s.query(q)
		if err == nil && cond(samples) {
			return samples
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("query %s: never as expected; last %v (%v)\nprometheus said:\n%s", q, samples, err, s.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
