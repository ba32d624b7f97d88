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
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/store"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

// fakeOutbox records what the agent hands to delivery.
type fakeOutbox struct {
	mu       sync.Mutex
	trs      []contract.Alarm
	readings int
	closed   bool
	flushes  int
	notify   chan struct{}
}

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{notify: make(chan struct{}, 1)}
}

func (f *fakeOutbox) Transitions(as []contract.Alarm) error {
	f.mu.Lock()
	f.trs = append(f.trs, as...)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return nil
}
func (f *fakeOutbox) Reading(r *reading.Reading, _ *reading.Format) {
	f.mu.Lock()
	f.readings++
	f.mu.Unlock()
}
func (f *fakeOutbox) Flush(ctx context.Context) error {
	f.mu.Lock()
	f.flushes++
	f.mu.Unlock()
	return nil
}

// link is the fake as the agent's delivery link.
func (f *fakeOutbox) link() *Link {
	l := &Link{Outbox: f, Monitor: f, Flush: f.Flush, Close: f.Close}
	l.complete()
	return l
}

func (f *fakeOutbox) Health() error                   { return nil }
func (f *fakeOutbox) WriteMetrics(w *promtext.Writer) { w.Sample("fake_outbox", 1) }
func (f *fakeOutbox) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeOutbox) snapshot() []contract.Alarm {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]contract.Alarm(nil), f.trs...)
}

func testRegistry() *driver.Registry {
	r := driver.NewRegistry()
	sim.Register(r)
	return r
}

func writeConfig(t testing.TB, body string) *Plan {
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
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 5m, time_scale: 300, every: 20ms, channels: [battery_temp], labels: {room: battery-room}}
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 5m, time_scale: 300, every: 20ms, channels: [smoke]}
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
			Open: Static(ob.link())})
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
	if trs[0].Key != "batt-hot/ups1/battery_temp" || trs[0].State != contract.Active || trs[0].Seq != 1 {
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
	if _, err := os.Stat(filepath.Join(plan.Config.Gateway.StateDir, store.File)); err != nil {
		t.Errorf("alarm state not saved: %v", err)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	plan := writeConfig(t, runawayConfig)
	ob := newFakeOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob.link(),
		statePath: filepath.Join(t.TempDir(), store.File)}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 50, At: time.Now()}
	a.reading(&r)
	srv, err := httpapi.Start("127.0.0.1:0", a, a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr()
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

// runUntil runs the agent with a fake outbox until cond holds for the transitions so far.
func runUntil(t *testing.T, plan *Plan, cond func([]contract.Alarm) bool) *fakeOutbox {
	t.Helper()
	ob := newFakeOutbox()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Open: Static(ob.link())})
	}()
	deadline := time.After(30 * time.Second)
	for !cond(ob.snapshot()) {
		select {
		case <-ob.notify:
		case <-time.After(20 * time.Millisecond):
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-deadline:
			t.Fatalf("condition never held: %+v", ob.snapshot())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return ob
}

func has(trs []contract.Alarm, key, event string) bool {
	for _, a := range trs {
		if a.Key == key && a.Event == event {
			return true
		}
	}
	return false
}

// Agent runs with a fake outbox do no network I/O: they run in a synctest bubble, where the simulated
// story plays in no real time and synctest.Wait lets the goroutines the agent started finish their work.
func TestLastGaspFlushesOnLowBattery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, `
gateway: {id: gw, state_dir: STATE, last_gasp_rules: [low-battery]}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, time_scale: 300, every: 20ms, channels: [on_battery, low_battery]}
rules:
  - {id: on-battery, match: {channel: on_battery}, state: true}
  - {id: low-battery, match: {channel: low_battery}, state: true, severity: critical}
`)
		ob := runUntil(t, plan, func(trs []contract.Alarm) bool { return has(trs, "low-battery/ups1/low_battery", contract.EventRaise) })
		synctest.Wait() // the flush runs on its own goroutine
		ob.mu.Lock()
		defer ob.mu.Unlock()
		if ob.flushes != 1 {
			t.Errorf("flushes = %d, want 1 (on the low-battery raise only)", ob.flushes)
		}
	})
}

// A restart neither re-raises nor forgets an active alarm, and seq goes on from where it was.
func TestRestartKeepsAlarms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [smoke]}
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [on_battery]}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true}
`)
		first := runUntil(t, plan, func(trs []contract.Alarm) bool { return len(trs) >= 2 }).snapshot()
		var last uint64
		for _, a := range first {
			last = max(last, a.Seq)
		}
		if last != 2 {
			t.Fatalf("first run: %+v", first)
		}
		// The second run sees the same conditions for a while; nothing may be raised again.
		var reads int
		second := runUntil(t, plan, func([]contract.Alarm) bool {
			reads++
			return reads > 25 // 25 polls of 20 ms, half a second of readings after the restart
		})
		for _, a := range second.snapshot() {
			if a.Event == contract.EventRaise || a.Seq <= last {
				t.Errorf("after restart: %s %s seq %d (last before restart %d)", a.Key, a.Event, a.Seq, last)
			}
		}
		second.mu.Lock()
		defer second.mu.Unlock()
		if second.readings == 0 {
			t.Error("second run read nothing")
		}
	})
}

// SIGHUP: a new plan replaces sensors and rules in place; alarms and seq carry over.
func TestReloadReplacesRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 9m, every: 20ms, channels: [on_battery]}
rules:
  - {id: on-battery, match: {channel: on_battery}, state: true}
`)
		second := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 9m40s, every: 20ms, channels: [on_battery, low_battery]}
rules:
  - {id: on-battery, match: {channel: on_battery}, state: true}
  - {id: low-battery, match: {channel: low_battery}, state: true, severity: critical}
`)
		second.Config.Gateway.StateDir = first.Config.Gateway.StateDir
		ob := newFakeOutbox()
		reload := make(chan *Plan)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, first, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Reload: reload,
				Open: Static(ob.link())})
		}()
		waitTrs := func(what string, cond func([]contract.Alarm) bool) {
			t.Helper()
			deadline := time.After(30 * time.Second)
			for !cond(ob.snapshot()) {
				select {
				case <-ob.notify:
				case <-time.After(20 * time.Millisecond):
				case <-deadline:
					t.Fatalf("never saw %s: %+v", what, ob.snapshot())
				}
			}
		}
		waitTrs("on-battery", func(trs []contract.Alarm) bool { return has(trs, "on-battery/ups1/on_battery", contract.EventRaise) })
		reload <- second
		waitTrs("low-battery after the reload", func(trs []contract.Alarm) bool { return has(trs, "low-battery/ups1/low_battery", contract.EventRaise) })
		cancel()
		<-done
		trs := ob.snapshot()
		if len(trs) != 2 || trs[1].Seq != 2 {
			t.Errorf("want on-battery raised once and low-battery as seq 2, got %+v", trs)
		}
	})
}
