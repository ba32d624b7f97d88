package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/promtext"
)

type src struct {
	health error
	st     Status
}

func (s *src) Health() error                   { return s.health }
func (s *src) WriteMetrics(w *promtext.Writer) { w.Sample("rackwatch_test", 1) }
func (s *src) Status() Status                  { return s.st }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	s := &src{st: Status{Gateway: "gw", Site: "dc1", Version: "1.0", Started: time.Now(),
		Alarms:   []AlarmRow{{Severity: "critical", Key: "smoke/room/smoke", State: "active", Message: "smoke in <room>", Since: time.Now()}},
		Readings: []ReadingRow{{Sensor: "room", Channel: "smoke", Value: "1", Quality: "good"}}}}
	srv, err := Start("127.0.0.1:0", s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	s.health = errors.New("broker tls://central:8883: certificate signed by unknown authority")
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, "unknown authority") {
		t.Errorf("unhealthy healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "rackwatch_test 1") || !strings.Contains(body, "go_memstats_heap_alloc_bytes") {
		t.Errorf("metrics: %d %q", code, body)
	}
	code, body := get(t, base+"/")
	if code != 200 || !strings.Contains(body, `<td class="sev-critical">critical</td><td class="nw">smoke/room/smoke</td>`) {
		t.Errorf("status page: %d %s", code, body)
	}
	if strings.Contains(body, "<room>") || !strings.Contains(body, "smoke in &lt;room&gt;") {
		t.Error("status page does not escape alarm text")
	}
	if code, _ := get(t, base+"/nothing"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// Whoever reaches the port cannot hold the agent's connections: at most maxConns are open at once, a
// connection that sends half a request or stays idle after one is closed, and the page is served again
// afterwards.
func TestConnectionsAreBounded(t *testing.T) {
	oldMax, oldHeader, oldIdle := maxConns, readHeaderTimeout, idleTimeout
	maxConns, readHeaderTimeout, idleTimeout = 4, 200*time.Millisecond, 200*time.Millisecond
	defer func() { maxConns, readHeaderTimeout, idleTimeout = oldMax, oldHeader, oldIdle }()
	srv, err := Start("127.0.0.1:0", &src{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 0 {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") // then idle, kept alive
		} else {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never finishes its header
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Minute)) // a failure timeout, not a measurement
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection %d was never closed by the server: %v", i, err)
		}
	}
	if _, peak := srv.Conns(); peak > 4 {
		t.Fatalf("%d connections were open at once; the bound is 4", peak)
	}
	if code, body := get(t, "http://"+srv.Addr()+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("after the flood: %d %q", code, body)
	}
}
