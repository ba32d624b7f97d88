package fwbridge

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// brokerRig is the whole way from a board's input to an operator's screen: the emulated board on a pty,
// the bridge driver, agent.Run with its journal and MQTT delivery, an MQTT broker on 127.0.0.1:0, and a
// subscriber on the gateway's events topic.
type brokerRig struct {
	emu    *emu
	events chan contract.Alarm
}

func newBrokerRig(t testing.TB) *brokerRig {
	dir := t.TempDir()
	bin := buildC(t, "emulator", "emulator.c", "rwproto.c")
	dev := filepath.Join(dir, "ttyACM0")
	e := startEmu(t, bin, dev)

	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	events := make(chan contract.Alarm, 1<<14)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sub, err := mqtt.Connect(ctx, mqtt.Config{URL: b.URL(), ClientID: "operator", CleanSession: true,
		Subscribe: map[string]byte{"rackwatch/gw/events": 1},
		OnMessage: func(m mqtt.Received) {
			var a contract.Alarm
			if err := json.Unmarshal(m.Payload, &a); err == nil {
				events <- a
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Disconnect(0) })

	cfgText := strings.NewReplacer("STATE", filepath.Join(dir, "state"), "DEV", dev, "BROKER", b.URL()).Replace(`
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {brokers: [{url: BROKER}], readings: {disabled: true}}
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
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx, plan, reg, agent.Options{Log: slog.New(slog.DiscardHandler)}) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent.Run: %v", err)
			}
		case <-time.After(waitLimit + agent.ShutdownGrace):
			t.Error("agent.Run did not return")
		}
	})
	// The host configures the board right after the handshake: from then on, edges reach the rules.
	e.waitEvent("host SET hb,500")
	return &brokerRig{emu: e, events: events}
}

func (r *brokerRig) waitAlarm(t testing.TB, state string) contract.Alarm {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case a := <-r.events:
			if a.Rule == "smoke" && a.Sensor == "board1" && a.Channel == "smoke" && a.State == state {
				return a
			}
		case <-timeout:
			t.Fatalf("no %s smoke alarm on the broker", state)
		}
	}
}

// The smoke contact on the board closes; the alarm arrives on the broker, through the journal and QoS 1.
func TestBridgeEdgeAlarmOnBroker(t *testing.T) {
	r := newBrokerRig(t)
	r.emu.send("set 1 1")
	a := r.waitAlarm(t, "active")
	if a.Gateway != "gw" || a.Severity != "critical" || a.Value == nil || *a.Value != 1 || a.Message == "" {
		t.Errorf("alarm on the broker: %+v", a)
	}
	r.emu.send("set 1 0")
	r.waitAlarm(t, "cleared")
}

// BenchmarkEdgeToBroker measures an input edge on the board to the alarm transition arriving at an MQTT
// subscriber on loopback: the C core, the pty, the driver, the scheduler, the rules engine, the journal
// (fsync'd) and QoS 1 delivery through the broker. Edges are spaced 10 ms apart (below the driver's flood
// limit) and alternate, so each one is a transition (active, cleared, active, …).
func BenchmarkEdgeToBroker(b *testing.B) {
	r := newBrokerRig(b)
	lat := make([]time.Duration, 0, 1024)
	v := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(10 * time.Millisecond)
		b.StartTimer()
		v ^= 1
		cmd, want := "set 1 0", "cleared"
		if v == 1 {
			cmd, want = "set 1 1", "active"
		}
		t0 := time.Now()
		r.emu.send(cmd)
		r.waitAlarm(b, want)
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}
