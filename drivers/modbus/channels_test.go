package modbus

import (
	"testing"
)

// A register's scale is its resolution; states, bits and coils are named, so that the status page shows
// "discharging" and "ON" rather than 3 and 1.
func TestChannelsCarryResolutionAndStateNames(t *testing.T) {
	specs := []RegSpec{
		{Channel: "battery_temp", Table: "input", Address: intp(30), Type: "int16", Scale: f64p(0.1), Unit: "°C"},
		{Channel: "cell_voltage_max", Table: "input", Address: intp(40), Type: "uint16", Count: 16, Reduce: "max", Scale: f64p(0.001), Unit: "V"},
		{Channel: "runtime", Table: "input", Address: intp(50), Type: "uint16", Scale: f64p(60)},
		{Channel: "mode", Table: "holding", Address: intp(3), Type: "uint16", States: map[string]string{"0": "standby", "2": "charging", "3": "discharging"}},
		{Channel: "on_battery", Table: "holding", Address: intp(2), Type: "uint16", Bit: intp(3)},
		{Channel: "contactor", Table: "coil", Address: intp(100)},
		{Channel: "string_current", Table: "input", Address: intp(60), Type: "float32", Unit: "A"},
	}
	var points []point
	for i := range specs {
		p, ok := compile(&specs[i], func(line int, format string, args ...any) { t.Errorf(format, args...) })
		if !ok {
			t.Fatalf("spec %d refused", i)
		}
		points = append(points, p)
	}
	chs := channelInfos(points)
	want := []struct {
		res   float64
		human string // the value 3, or 1 for the 0/1 channels, as a person reads it
		v     float64
	}{
		{0.1, "25.3 °C", 25.300000000000004}, {0.001, "3.312 V", 3.3120000000000003}, {60, "1800 s", 1799.9999999},
		{1, "discharging", 3}, {1, "ON BATTERY", 1}, {1, "ON", 1}, {0.01, "12.35 A", 12.3456},
	}
	for i, w := range want {
		f := chs[i].Format()
		if f.Resolution != w.res {
			t.Errorf("%s: resolution %v, want %v", chs[i].Channel, f.Resolution, w.res)
		}
		if got := f.Human(w.v); got != w.human {
			t.Errorf("%s: %v shows as %q, want %q", chs[i].Channel, w.v, got, w.human)
		}
	}
}
