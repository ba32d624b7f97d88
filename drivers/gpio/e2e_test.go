package gpio_test

import (
	"context"
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
	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/gpio"
)

// outbox stands in for the journal and MQTT fan-out: it passes every durable transition to a channel.
type outbox struct {
	trs  chan alarm.Alarm
	cmds chan agent.Command
}

func (o *outbox) Transitions(as []alarm.Alarm) error {
	for _, a := range as {
		o.trs <- a
	}
	return nil
}
func (o *outbox) Reading(*reading.Reading, string) {}
func (o *outbox) Commands() <-chan agent.Command   { return o.cmds }
func (o *outbox) Result([]byte)                    {}
func (o *outbox) Health() error                    { return nil }
func (o *outbox) WriteMetrics(io.Writer)           {}
func (o *outbox) Close(ctx context.Context) error  { return nil }

const e2eConfig = `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: batt-room.smoke, driver: gpio-input, pin: GPIO17, active: low, channel: smoke, debounce: 0s, every: 1h}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, severity: critical}
`

type rig struct {
	pin *gpiotest.Pin
	ob  *outbox
}

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

func startAgent(tb testing.TB) *rig {
	tb.Helper()
	dir := tb.TempDir()
	p := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(p, []byte(strings.ReplaceAll(e2eConfig, "STATE", filepath.Join(dir, "state"))), 0o644)
	r := &rig{
		pin: &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan pgpio.Level)},
		ob:  &outbox{trs: make(chan alarm.Alarm, 16), cmds: make(chan agent.Command)},
	}
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, plan, reg, agent.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OpenOutbox: func(context.Context, *config.Config, *slog.Logger) (agent.Outbox, error) { return r.ob, nil }})
	}()
	select {
	case <-rp.ready:
	case <-time.After(20 * time.Second):
		tb.Fatal("the agent did not open the GPIO sensor")
	}
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			tb.Error("agent did not stop")
		}
	})
	return r
}

func (r *rig) next(tb testing.TB) alarm.Alarm {
	tb.Helper()
	select {
	case a := <-r.ob.trs:
		return a
	case <-time.After(20 * time.Second):
		tb.Fatal("no alarm transition")
	}
	return alarm.Alarm{}
}

// A smoke detector's relay closing on GPIO17 becomes an active critical alarm, and opening clears it.
func TestGPIOEdgeRaisesAlarm(t *testing.T) {
	r := startAgent(t)
	r.pin.EdgesChan <- pgpio.Low
	a := r.next(t)
	if a.Rule != "smoke" || a.Sensor != "batt-room.smoke" || a.State != "active" || a.Severity != "critical" {
		t.Fatalf("got %+v", a)
	}
	r.pin.EdgesChan <- pgpio.High
	if a := r.next(t); a.State != "cleared" {
		t.Fatalf("got %+v", a)
	}
}

// BenchmarkGPIOEdgeToAlarm measures a falling edge on the pin until the agent has made the alarm
// transition durable and handed it to delivery (the MQTT hop is not included).
func BenchmarkGPIOEdgeToAlarm(b *testing.B) {
	r := startAgent(b)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r.pin.EdgesChan <- pgpio.Low
		r.next(b)
		lat = append(lat, time.Since(t0))
		r.pin.EdgesChan <- pgpio.High
		r.next(b)
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
