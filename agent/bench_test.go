package agent

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/store"
)

// BenchmarkReadingToBroker measures the agent's own delay for the path the latency budget names: a new
// value read -> rules -> journal (fsync) -> embedded broker -> a subscriber. Each iteration raises or
// clears one alarm and waits for its event to arrive. It reports the median and p99 in ms.
func BenchmarkReadingToBroker(b *testing.B) {
	plan := writeConfig(b, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0", readings: {every: 1h, deadband: 1000}}
sensors:
  - {id: ups1, driver: sim, scenario: steady, every: 1h, channels: [battery_temp]}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, clear: 40, severity: critical}
`)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out, err := OpenMQTT(context.Background(), plan.Config, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close(context.Background())
	a := &runner{log: log, reg: testRegistry(), out: out, statePath: plan.Config.Gateway.StateDir + "/" + store.File}
	if err := a.setPlan(plan, nil); err != nil {
		b.Fatal(err)
	}
	got := make(chan time.Time, 16)
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: "tcp://" + out.Broker, ClientID: "bench",
		CleanSession: true, KeepAlive: 30 * time.Second, Subscribe: map[string]byte{"rackwatch/gw/events": 1},
		OnMessage: func(mqtt.Received) { got <- time.Now() }})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Disconnect(0)
	for out.Health() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := 50.0
		if i%2 == 1 {
			v = 30
		}
		start := time.Now()
		r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: v, At: start}
		a.reading(&r)
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("transition %d never reached the broker", i)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkReadingNoTransition is the steady-state cost per reading on the loop: rules, the readings
// filter and the status page's last-value table, with no alarm changing. It should not allocate.
func BenchmarkReadingNoTransition(b *testing.B) {
	plan := writeConfig(b, runawayConfig)
	ob := newFakeOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob.link(), statePath: b.TempDir() + "/" + store.File}
	if err := a.setPlan(plan, nil); err != nil {
		b.Fatal(err)
	}
	r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 25}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.At = now.Add(time.Duration(i) * time.Millisecond)
		r.Value = 25 + float64(i%10)/10
		a.reading(&r)
	}
}
