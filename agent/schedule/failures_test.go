package schedule

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// channelFails is a device whose read succeeds but whose every channel fails (a UPS that answers with
// every variable missing, a Modbus unit that refuses every register).
type channelFails struct{}

func (channelFails) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	return append(out, driver.Sample{Channel: reading.Temperature, Err: errors.New("register 30: illegal data address")}), nil
}
func (channelFails) Close() error { return nil }

// rackwatch_sensor_failures_total stayed 0 while every channel of a sensor failed: a read whose channels
// fail is a failed read, and each channel's bad readings are counted on their own.
func TestFailuresAreCountedPerChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["ups1"] = func(int) (driver.Device, error) { return channelFails{}, nil }
		h.openFn["dead"] = func(int) (driver.Device, error) { return nil, errors.New("no such device") }
		h.openFn["fine"] = func(int) (driver.Device, error) {
			return &fake{behave: func(int, context.Context) (float64, error) { return 21, nil }}, nil
		}
		n := 0
		h.run(t, "sensors:\n  - {id: ups1, driver: fake, every: 1s}\n  - {id: dead, driver: fake, every: 1s}\n  - {id: fine, driver: fake, every: 1s}\n",
			func(r reading.Reading) bool {
				if r.Sensor == "ups1" {
					n++
				}
				return n == 5
			})
		var b strings.Builder
		h.sched.WriteMetrics(promtext.New(&b))
		m := b.String()
		for _, want := range []string{
			`rackwatch_sensor_failures_total{sensor="ups1"} 5`,
			`rackwatch_channel_failures_total{sensor="ups1",channel="temperature"} 5`,
			`rackwatch_channel_failures_total{sensor="fine",channel="temperature"} 0`,
			`rackwatch_sensor_failures_total{sensor="fine"} 0`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("no %s in\n%s", want, m)
			}
		}
		if !strings.Contains(m, `rackwatch_channel_failures_total{sensor="dead",channel="temperature"} `) ||
			strings.Contains(m, `rackwatch_channel_failures_total{sensor="dead",channel="temperature"} 0`) {
			t.Errorf("a device that cannot be opened counts no bad readings:\n%s", m)
		}
	})
}
