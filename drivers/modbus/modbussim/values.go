package modbussim

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Source gives a channel's value at scenario time t; ok is false for a channel it does not simulate.
// A simulation scenario's Value method (drivers/sim) has this shape.
type Source func(ch reading.Channel, t time.Duration) (v float64, ok bool)

// Values returns the value function of a simulated device (NewSim): a channel's fixed value if it has
// one, else the source's value at scenario time (the time since Values was called, speed times faster
// than the clock), else a value derived from those for the channels of the shipped profiles that
// scenarios do not carry. source may be nil; speed must be positive.
func Values(source Source, speed float64, fixed map[reading.Channel]float64) func(reading.Channel) (float64, bool) {
	start := time.Now()
	var value func(ch reading.Channel) (float64, bool)
	value = func(ch reading.Channel) (float64, bool) {
		if v, ok := fixed[ch]; ok {
			return v, true
		}
		if source != nil {
			if v, ok := source(ch, time.Duration(float64(time.Since(start))*speed)); ok {
				return v, true
			}
		}
		return derived(ch, value)
	}
	return value
}

// derived gives the channels of the shipped profiles that scenarios do not carry, from those they do,
// so that a simulated UPS or BMS tells one consistent story (a battery that heats up heats its cells).
func derived(ch reading.Channel, get func(reading.Channel) (float64, bool)) (float64, bool) {
	v := func(c reading.Channel, def float64) float64 {
		if x, ok := get(c); ok {
			return x
		}
		return def
	}
	onBattery := v(reading.OnBattery, 0) >= 0.5
	switch ch {
	case "cell_temp_max", "mosfet_temp":
		return v(reading.BatteryTemp, 25) + 0.5, true
	case "cell_temp_min":
		return v(reading.BatteryTemp, 25) - 0.5, true
	case "ambient_temp":
		return v(reading.Temperature, 22.5), true
	case "cell_voltage_max":
		return v(reading.BatteryVoltage, 54.4)/16 + 0.005, true
	case "cell_voltage_min":
		return v(reading.BatteryVoltage, 54.4)/16 - 0.005, true
	case "battery_current":
		if onBattery {
			return -40, true
		}
		return 1.5, true
	case "cycles":
		return 120, true
	case "input_frequency", "output_frequency":
		return 50, true
	case "output_current":
		return v(reading.Load, 35) / 100 * 13, true // a 3 kVA unit at 230 V
	case "online":
		return 1 - v(reading.OnBattery, 0), true
	case "output_source": // Huawei: 2 mains, 3 battery
		if onBattery {
			return 3, true
		}
		return 2, true
	case "battery_state": // Huawei: 3 trickle charging, 5 discharging
		if onBattery {
			return 5, true
		}
		return 3, true
	case "charging":
		return 1 - v(reading.OnBattery, 0), true
	case "discharging":
		return v(reading.OnBattery, 0), true
	case "cell_high_voltage_alarm", "cell_low_voltage_alarm", "charge_high_temp_alarm":
		return 0, true
	case "discharge_high_temp_alarm":
		if v(reading.BatteryTemp, 25) > 55 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// ParseSet parses the fixed values of `rackwatch sim modbus --set`: "charge=80,on_battery=1".
func ParseSet(s string) (map[reading.Channel]float64, error) {
	out := map[reading.Channel]float64{}
	for _, kv := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return nil, errors.New("--set: write channel=value, e.g. --set charge=80,on_battery=1")
		}
		out[reading.Channel(strings.TrimSpace(k))] = f
	}
	return out, nil
}
