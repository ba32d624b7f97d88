package fwbridge

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// outbox stands in for the MQTT delivery: it is where the agent hands over transitions once they are
// durable, and readings.
type outbox struct {
	trs  chan contract.Alarm
	link chan float64
}

func (o *outbox) Transitions(as []contract.Alarm) error {
	for _, a := range as {
		o.trs <- a
	}
	return nil
}
func (o *outbox) Reading(r *reading.Reading, _ *reading.Format) {
	if r.Channel == ChannelLink && r.Good() {
		select {
		case o.link <- r.Value:
		default:
		}
	}
}

// agentRig runs the whole agent (scheduler, rules, alarm state) with the bridge driver against the
// emulator, and a smoke rule on the board's smoke input.
type agentRig struct {
	emu  *emu
	out  *outbox
	stop func()
}

func newAgentRig(t testing.TB) *agentRig {
	dir := t.TempDir()
	bin := buildC(t, "emulator", "emulator.c", "rwproto.c")
	dev := filepath.Join(dir, "ttyACM0")
	e := startEmu(t, bin, dev)
	cfgText := strings.NewReplacer("STATE", filepath.Join(dir, "state"), "DEV", dev).Replace(`
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: board1, driver: bridge, device: DEV, heartbeat: 500ms, every: 1h}
rules:
  - {id: smoke, match: {sensor: board1, channel: smoke}, above: 0.5, severity: critical}
`)
	path := filepath.Join(dir, "rackwatch.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := driver.NewRegistry()
	Register(reg)
	plan, err := agent.LoadAndCheck(path, reg)
	if err != nil {
		t.Fatal(err)
	}
	out := &outbox{trs: make(chan contract.Alarm, 1<<14), link: make(chan float64, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, plan, reg, agent.Options{Log: slog.New(slog.DiscardHandler),
			Open: agent.Static(&agent.Link{Outbox: out})})
	}()
	r := &agentRig{emu: e, out: out, stop: func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent.Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("agent.Run did not return")
		}
	}}
	t.Cleanup(r.stop)
	select {
	case <-out.link:
	case err := <-done:
		t.Fatalf("agent.Run returned %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the board never connected")
	}
	return r
}

func (r *agentRig) waitAlarm(t testing.TB, state string) contract.Alarm {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case a := <-r.out.trs:
			if a.Rule == "smoke" && a.Sensor == "board1" && a.Channel == "smoke" && a.State == state {
				return a
			}
		case <-timeout:
			t.Fatalf("no %s smoke alarm", state)
		}
	}
}

// An edge on the board's smoke input becomes an active alarm, handed to delivery, with no poll between.
func TestBridgeEdgeRaisesAlarm(t *testing.T) {
	r := newAgentRig(t)
	r.emu.send("set 1 1")
	a := r.waitAlarm(t, "active")
	if a.Severity != "critical" || a.Value == nil || *a.Value != 1 {
		t.Errorf("alarm %+v", a)
	}
	r.emu.send("set 1 0")
	r.waitAlarm(t, "cleared")
}

// BenchmarkEdgeToAlarm measures an input edge on the board to the alarm transition handed to delivery
// (after the agent made it durable): the C core, the pty, the driver, the scheduler, the rules engine and
// the alarm state file. The MQTT hop is not included.
func BenchmarkEdgeToAlarm(b *testing.B) {
	r := newAgentRig(b)
	lat := make([]time.Duration, 0, 1024)
	v := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(10 * time.Millisecond) // below the driver's flood limit
		b.StartTimer()
		v ^= 1
		want := map[int]string{1: "active", 0: "cleared"}[v]
		t0 := time.Now()
		r.emu.send(map[int]string{1: "set 1 1", 0: "set 1 0"}[v])
		r.waitAlarm(b, want)
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}
