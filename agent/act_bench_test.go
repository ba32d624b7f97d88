package agent

import (
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/store"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// signalPin is a gpiotest pin that says when it is driven.
type signalPin struct {
	gpiotest.Pin
	driven chan time.Time
}

func (p *signalPin) Out(l pgpio.Level) error {
	err := p.Pin.Out(l)
	select {
	case p.driven <- time.Now():
	default:
	}
	return err
}

// BenchmarkTransitionToOutput measures the action latency: from handing the agent's loop the reading
// that raises (or clears) an alarm, through the rules and the actions, to the output changing on the
// device: a GPIO line (gpiotest, so this is the agent's own delay) and a Modbus coil written on a Modbus
// TCP server on loopback (the library's server; the write is timed when the server receives it). The
// outputs switch before the journal's fsync, so the disk is not in this path. Reports p50 and p99 in ms.
func BenchmarkTransitionToOutput(b *testing.B) {
	bms := startBMS(b)
	written := make(chan time.Time, 4)
	bms.dev.AcceptWrites(func(w modbussim.Write) {
		select {
		case written <- w.At:
		default:
		}
	})
	pin := &signalPin{Pin: gpiotest.Pin{N: "GPIO22", Num: 22}, driven: make(chan time.Time, 4)}
	reg := outputRegistry(pin)
	plan := writePlan(b, reg, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
buses:
  - {id: bms, type: modbus-tcp, address: "`+bms.addr+`", timeout: 2s}
sensors:
  - {id: string1, driver: sim, scenario: steady, every: 1h, channels: [battery_temp]}
rules:
  - {id: batt-critical, match: {sensor: string1, channel: battery_temp}, above: 60, clear: 55, severity: critical}
outputs:
  - {id: stop-charge, type: modbus, bus: bms, table: coil, address: 0x1201, on: 0, off: 1}
  - {id: sounder, type: gpio, pin: GPIO22}
actions:
  - {when: {rule: batt-critical}, do: [stop-charge, sounder]}
`)
	ob := newActionOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: reg, out: ob.link(),
		statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File)}
	if err := a.setPlan(plan, nil); err != nil {
		b.Fatal(err)
	}
	a.startActions()
	defer a.stopActions()
	<-pin.driven // opened at its off level
	gpioLat := make([]time.Duration, 0, b.N)
	mbLat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := 70.0
		if i%2 == 1 {
			v = 40
		}
		start := time.Now()
		r := reading.Reading{Sensor: "string1", Channel: reading.BatteryTemp, Value: v, At: start}
		a.reading(&r)
		for got := 0; got < 2; got++ {
			select {
			case at := <-pin.driven:
				gpioLat = append(gpioLat, at.Sub(start))
			case at := <-written:
				mbLat = append(mbLat, at.Sub(start))
			case <-time.After(10 * time.Second):
				b.Fatalf("iteration %d: an output never changed", i)
			}
		}
	}
	b.StopTimer()
	report := func(name string, lat []time.Duration) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("gpio", gpioLat)
	report("modbus", mbLat)
}
