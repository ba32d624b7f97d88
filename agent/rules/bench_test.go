package rules

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// benchRules are five rules that all match every sensor's temperature: two levels (one with delays), a
// rate of rise, a staleness and a fire composite — every kind on the hot path.
const benchRules = `
  - {id: warm, match: {sensor: "s*", channel: temperature}, above: 27, clear: 26, for: 30s, clear_for: 30s}
  - {id: hot, match: {sensor: "s*", channel: temperature}, above: 40, severity: critical}
  - {id: heating, match: {sensor: "s*", channel: temperature}, rate_above: 2, per: 1m, window: 2m, severity: critical}
  - {id: silent, match: {sensor: "s*", channel: temperature}, stale: 30s}
  - {id: cold, match: {sensor: "s*", channel: temperature}, below: 15}
  - {id: fire, all: [hot, heating], severity: critical}
`

const benchSensors = 100

func benchEngine(tb testing.TB) (*Engine, []reading.Reading) {
	var b strings.Builder
	b.WriteString("gateway: {id: gw1}\nmqtt: {embedded_broker: \"127.0.0.1:1883\"}\nsensors:\n")
	for i := 0; i < benchSensors; i++ {
		fmt.Fprintf(&b, "  - {id: s%03d, driver: sim, every: 1s, labels: {room: hall%d}}\n", i, i%4)
	}
	b.WriteString("rules:" + benchRules)
	cfg := parseConfig(tb, b.String())
	e := cfg.engine(tb)
	// One second's worth of readings: every sensor once, with a little noise around 22 °C.
	rs := make([]reading.Reading, benchSensors)
	for i := range rs {
		rs[i] = reading.Reading{Sensor: cfg.Sensors[i].ID, Channel: reading.Temperature, Value: 22 + 0.3*math.Sin(float64(i))}
	}
	return e, rs
}

// feedSecond feeds one second of readings at second sec, 10 ms apart.
func feedSecond(e *Engine, rs []reading.Reading, sec int, out []contract.Alarm) []contract.Alarm {
	base := t0.Add(time.Duration(sec) * time.Second)
	for i := range rs {
		r := &rs[i]
		r.At = base.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Value = 22 + 0.3*math.Sin(float64(sec*7+i))
		out = e.Eval(r, out[:0])
	}
	return out
}

func TestEvalDoesNotAllocateInSteadyState(t *testing.T) {
	e, rs := benchEngine(t)
	out := make([]contract.Alarm, 0, 16)
	sec := 0
	for ; sec < 300; sec++ {
		out = feedSecond(e, rs, sec, out)
		out = e.Tick(t0.Add(time.Duration(sec)*time.Second+time.Second-time.Millisecond), out[:0])
	}
	if e.Seq() != 0 {
		t.Fatalf("steady input raised %d transitions", e.Seq())
	}
	allocs := testing.AllocsPerRun(100, func() {
		out = feedSecond(e, rs, sec, out)
		out = e.Tick(t0.Add(time.Duration(sec)*time.Second+time.Second-time.Millisecond), out[:0])
		sec++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per second of %d readings and a tick", allocs, benchSensors)
	}
}

// BenchmarkEval is the budget figure: 100 sensors × 5 rules (+1 composite), steady state, per reading.
func BenchmarkEval(b *testing.B) {
	e, rs := benchEngine(b)
	out := make([]contract.Alarm, 0, 16)
	for sec := 0; sec < 300; sec++ {
		out = feedSecond(e, rs, sec, out)
	}
	base := t0.Add(300 * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rs[i%benchSensors]
		r.At = base.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Value = 22 + 0.3*math.Sin(float64(i))
		out = e.Eval(r, out[:0])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	if e.Seq() != 0 {
		b.Fatalf("steady input raised %d transitions", e.Seq())
	}
}

// BenchmarkEvalWithTicks is the agent's real load: the same readings plus one Tick (a pass over all 500
// alarms) per second of readings.
func BenchmarkEvalWithTicks(b *testing.B) {
	e, rs := benchEngine(b)
	out := make([]contract.Alarm, 0, 16)
	for sec := 0; sec < 300; sec++ {
		out = feedSecond(e, rs, sec, out)
	}
	base := t0.Add(300 * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rs[i%benchSensors]
		r.At = base.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Value = 22 + 0.3*math.Sin(float64(i))
		out = e.Eval(r, out[:0])
		if i%benchSensors == benchSensors-1 {
			out = e.Tick(r.At, out[:0])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	if e.Seq() != 0 {
		b.Fatalf("steady input raised %d transitions", e.Seq())
	}
}

// BenchmarkEvalTransitions measures the cost when every reading crosses a threshold (the worst case, with
// messages built): readings alternate between normal and hot.
func BenchmarkEvalTransitions(b *testing.B) {
	e, rs := benchEngine(b)
	out := make([]contract.Alarm, 0, 16)
	base := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rs[i%benchSensors]
		r.At = base.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Value = 22
		if (i/benchSensors)%2 == 1 {
			r.Value = 45
		}
		out = e.Eval(r, out[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
