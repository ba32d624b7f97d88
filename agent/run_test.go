package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

// fakeOutbox records what the agent hands to delivery.
type fakeOutbox struct {
	mu       sync.Mutex
	trs      []alarm.Alarm
	readings int
	cmds     chan Command
	results  [][]byte
	closed   bool
	notify   chan struct{}
}

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{cmds: make(chan Command), notify: make(chan struct{}, 1)}
}

func (f *fakeOutbox) Transitions(as []alarm.Alarm) error {
	f.mu.Lock()
	f.trs = append(f.trs, as...)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return nil
}
func (f *fakeOutbox) Reading(r *reading.Reading, unit string) {
	f.mu.Lock()
	f.readings++
	f.mu.Unlock()
}
func (f *fakeOutbox) Commands() <-chan Command { return f.cmds }
func (f *fakeOutbox) Result(p []byte)          { f.mu.Lock(); f.results = append(f.results, p); f.mu.Unlock() }
func (f *fakeOutbox) Health() error            { return nil }
func (f *fakeOutbox) WriteMetrics(w io.Writer) { io.WriteString(w, "fake_outbox 1\n") }
func (f *fakeOutbox) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeOutbox) snapshot() []alarm.Alarm {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alarm.Alarm(nil), f.trs...)
}

func testRegistry() *driver.Registry {
	r := driver.NewRegistry()
	sim.Register(r)
	return r
}

func writeConfig(t *testing.T, body string) *Plan {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "rackwatch.yaml")
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := LoadAndCheck(p, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

const runawayConfig = `
gateway: {id: gw, site: lab, state_dir: STATE, http: "127.0.0.1:0"}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, time_scale: 300, every: 20ms, channels: [battery_temp], labels: {room: battery-room}}
  - {id: room.smoke, driver: sim, scenario: battery-runaway, time_scale: 300, every: 20ms, channels: [smoke]}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, clear: 40, severity: critical}
  - {id: smoke, match: {channel: smoke}, above: 0.5, severity: critical}
`

func TestRunBatteryRunaway(t *testing.T) {
	plan := writeConfig(t, runawayConfig)
	ob := newFakeOutbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OpenOutbox: func(context.Context, *config.Config, *slog.Logger) (Outbox, error) { return ob, nil }})
	}()
	deadline := time.After(30 * time.Second)
	for len(ob.snapshot()) < 2 {
		select {
		case <-ob.notify:
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-deadline:
			t.Fatalf("alarms never raised: %+v", ob.snapshot())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	trs := ob.snapshot()
	if trs[0].Key != "batt-hot/ups1/battery_temp" || trs[0].State != alarm.Active || trs[0].Seq != 1 {
		t.Errorf("first transition %+v", trs[0])
	}
	if trs[1].Key != "smoke/room.smoke/smoke" || trs[1].Seq != 2 {
		t.Errorf("second transition %+v", trs[1])
	}
	if trs[0].Labels["room"] != "battery-room" || trs[0].Unit != "°C" || trs[0].Gateway != "gw" || trs[0].Site != "lab" {
		t.Errorf("alarm object misses context: %+v", trs[0])
	}
	if !ob.closed {
		t.Error("outbox not closed at shutdown")
	}
	if _, err := os.Stat(filepath.Join(plan.Config.Gateway.StateDir, StateFile)); err != nil {
		t.Errorf("alarm state not saved: %v", err)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	plan := writeConfig(t, runawayConfig)
	ob := newFakeOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob,
		statePath: filepath.Join(t.TempDir(), StateFile)}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 50, At: time.Now()}
	a.reading(&r)
	srv, err := serveHTTP("127.0.0.1:0", a, a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.(interface{ Addr() string }).Addr()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": "rackwatch_readings_total 1",
		"/":        "batt-hot/ups1/battery_temp",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, want %q in:\n%s", path, resp.StatusCode, want, b)
		}
	}
}
