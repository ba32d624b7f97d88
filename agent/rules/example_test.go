package rules_test

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

func Example() {
	above, clear := 27.0, 26.0
	// The same rule as `{id: inlet-warm, match: {sensor: "*.inlet", channel: temperature}, above: 27,
	// clear: 26, for: 30s}` in a config file.
	rs := []rules.Rule{{ID: "inlet-warm", Match: &rules.Match{Sensor: "*.inlet", Channel: "temperature"},
		Above: &above, Clear: &clear, For: settings.Duration(30 * time.Second)}}
	if errs := rules.Validate("example", rs); len(errs) > 0 {
		panic(errs)
	}
	e, err := rules.New(rs, rules.Options{Gateway: "gw1",
		Sensors: []rules.Sensor{{ID: "r12.inlet", Labels: map[string]string{"room": "hall3"}}}})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	var out []contract.Alarm
	for i, v := range []float64{26.5, 27.5, 27.8, 28.1, 28.3} {
		r := reading.Reading{Sensor: "r12.inlet", Channel: reading.Temperature, Value: v, At: start.Add(time.Duration(i) * 10 * time.Second)}
		out = e.Eval(&r, out)
	}
	// Above 27 since 03:00:10: the reading at 03:00:40 completes the 30 s delay. (A delay completes only on
	// a good reading: a Tick alone, with no reading to back it, never does.)
	for _, a := range out {
		fmt.Println(a.Seq, a.Event, a.Key, a.Time.Format(time.TimeOnly), a.Message)
	}
	// Output:
	// 1 raise inlet-warm/r12.inlet/temperature 03:00:40 hall3 r12.inlet temperature 28.3 °C, above 27 °C for 30s
}
