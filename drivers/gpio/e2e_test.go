package gpio_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/drivers/gpio"
)

// The whole event path: a smoke detector's relay contact on a fake GPIO pin -> gpio-input -> scheduler
// -> rules -> journal -> MQTT delivery -> the embedded broker -> a subscriber.
const e2eConfig = `
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt:
  embedded_broker: "127.0.0.1:0"
  readings: {disabled: true}
sensors:
  - {id: batt-room.smoke, driver: gpio-input, pin: GPIO17, active: low, channel: smoke, debounce: 0s, every: 1h}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, severity: critical}
`

const alarmTopic = "rackwatch/gw/alarms/smoke/batt-room.smoke/smoke"

// readyPin tells when the driver has configured the pin: gpiotest's In drains pending edges, so a test
// edge sent before that would be lost.
type readyPin struct {
	*gpiotest.Pin
	ready chan struct{}
}

func (p *readyPin) In(pull pgpio.Pull, edge pgpio.Edge) error {
	err := p.Pin.In(pull, edge)
	close(p.ready)
	return err
}

type event struct {
	topic  string
	retain bool
	qos    byte
	alarm  struct{ Rule, Sensor, Channel, Severity, State, Message string }
}

type rig struct {
	pin    *gpiotest.Pin
	events chan event
}

func startAgent(tb testing.TB) *rig {
	tb.Helper()
	dir := tb.TempDir()
	p := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(p, []byte(strings.ReplaceAll(e2eConfig, "STATE", filepath.Join(dir, "state"))), 0o644)
	r := &rig{pin: &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan pgpio.Level)}, events: make(chan event, 64)}
	rp := &readyPin{Pin: r.pin, ready: make(chan struct{})}
	reg := driver.NewRegistry()
	reg.Add(gpio.Driver(func(name string) pgpio.PinIO {
		if name == "GPIO17" {
			return rp
		}
		return nil
	}))
	plan, err := agent.LoadAndCheck(p, reg)
	if err != nil {
		tb.Fatal(err)
	}
	addrs := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, plan, reg, agent.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(r agent.Ready) { addrs <- r.Broker }})
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			tb.Error("agent did not stop")
		}
	})
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		tb.Fatalf("agent did not start: %v", err)
	}
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: "tcp://" + addr, ClientID: "e2e-gpio", CleanSession: true,
		KeepAlive: 30 * time.Second, Subscribe: map[string]byte{"rackwatch/gw/alarms/#": 1},
		OnMessage: func(m mqtt.Received) {
			e := event{topic: m.Topic, retain: m.Retain, qos: m.QoS}
			if err := json.Unmarshal(m.Payload, &e.alarm); err != nil {
				tb.Errorf("alarm payload %q: %v", m.Payload, err)
			}
			r.events <- e
		}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Disconnect(0) })
	select {
	case <-rp.ready:
	case <-time.After(30 * time.Second):
		tb.Fatal("the agent did not open the GPIO sensor")
	}
	return r
}

// next returns the next alarm message in state (active or cleared); the generous deadline is a failure
// timeout, not a measurement.
func (r *rig) next(tb testing.TB, state string) event {
	tb.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-r.events:
			if e.alarm.State == state {
				return e
			}
		case <-deadline:
			tb.Fatalf("no %s alarm reached the broker", state)
		}
	}
}

func TestGPIOEdgeReachesBrokerAsAlarm(t *testing.T) {
	r := startAgent(t)
	r.pin.EdgesChan <- pgpio.Low // relay closes: smoke
	e := r.next(t, "active")
	if e.topic != alarmTopic || e.qos != 1 || e.alarm.Rule != "smoke" || e.alarm.Sensor != "batt-room.smoke" || e.alarm.Severity != "critical" || e.alarm.Message == "" {
		t.Errorf("got %+v", e)
	}
	r.pin.EdgesChan <- pgpio.High // relay opens
	if e := r.next(t, "cleared"); e.topic != alarmTopic {
		t.Errorf("got %+v", e)
	}
}

// BenchmarkGPIOEdgeToBroker measures a falling edge on the pin until a subscriber of the embedded broker
// holds the active alarm (journal fsync included), then lets it clear before the next round.
func BenchmarkGPIOEdgeToBroker(b *testing.B) {
	r := startAgent(b)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r.pin.EdgesChan <- pgpio.Low
		r.next(b, "active")
		lat = append(lat, time.Since(t0))
		r.pin.EdgesChan <- pgpio.High
		r.next(b, "cleared")
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.9), "p90-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
