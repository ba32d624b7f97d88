package rules_test

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
)

func Example() {
	cfg, err := config.Parse("example.yaml", []byte(`
gateway: {id: gw1}
mqtt: {embedded_broker: "127.0.0.1:1883"}
sensors:
  - {id: r12.inlet, driver: sim, scenario: hot-aisle, labels: {room: hall3}}
rules:
  - {id: inlet-warm, match: {sensor: "*.inlet", channel: temperature}, above: 27, clear: 26, for: 30s}
`))
	if err != nil {
		panic(err)
	}
	e, err := rules.New(cfg, rules.Options{Gateway: cfg.Gateway.ID})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	var out []alarm.Alarm
	for i, v := range []float64{26.5, 27.5, 27.8, 28.1} {
		r := reading.Reading{Sensor: "r12.inlet", Channel: reading.Temperature, Value: v, At: start.Add(time.Duration(i) * 10 * time.Second)}
		out = e.Eval(&r, out)
	}
	// Above 27 since 03:00:10; the 30 s delay ends at 03:00:40, after the last reading: a Tick at Next raises it.
	out = e.Tick(e.Next(), out)
	for _, a := range out {
		fmt.Println(a.Seq, a.Event, a.Key, a.Time.Format(time.TimeOnly), a.Message)
	}
	// Output:
	// 1 raise inlet-warm/r12.inlet/temperature 03:00:40 hall3 r12.inlet temperature 28.1 °C, above 27 °C for 30s
}
