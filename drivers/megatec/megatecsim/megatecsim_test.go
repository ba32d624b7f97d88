package megatecsim

import (
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

func TestReplies(t *testing.T) {
	src := func(ch reading.Channel, _ time.Duration) (float64, bool) {
		v, ok := map[reading.Channel]float64{
			reading.InputVoltage: 0, reading.OutputVoltage: 229.6, reading.Load: 34.4, reading.BatteryVoltage: 46.8,
			reading.BatteryTemp: 41.25, reading.OnBattery: 1, reading.LowBattery: 1, reading.Fault: 0,
		}[ch]
		return v, ok
	}
	e := New(Config{Source: src})
	for _, tc := range []struct{ cmd, want string }{
		{"Q1", "(000.0 000.0 229.6 034 50.0 46.8 41.2 11001001\r"},
		{"F", "#230.0 010 048.0 50.0\r"},
		{"I", "#RACKWATCH SIM   MEGATEC    1.0       \r"},
		{"QGS", "QGS\r"},
	} {
		if got := string(e.Reply(tc.cmd, 0)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	on := New(Config{Source: src, PerCell: true})
	if got, want := string(on.Reply("Q1", 0)), "(000.0 000.0 229.6 034 50.0 1.95 41.2 11000001\r"; got != want {
		t.Errorf("on-line Q1 %q, want %q", got, want)
	}
}
