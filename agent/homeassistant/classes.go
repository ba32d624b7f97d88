package homeassistant

import (
	"sort"
	"strings"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// binaryClasses are Home Assistant's binary sensor device classes for the boolean channels (on means
// the problem: smoke detected, water, door open, battery low).
var binaryClasses = map[reading.Channel]string{
	reading.Smoke: "smoke", reading.Leak: "moisture", reading.Door: "door", reading.LowBattery: "battery",
	reading.ReplaceBattery: "problem", reading.Overload: "problem", reading.Fault: "problem", reading.SelfTest: "running",
	"link": "connectivity", "failsafe": "problem",
}

// describeChannel fills the entity for one channel and returns its component: a binary sensor for a 0/1
// channel, an enum sensor for named states, a measurement otherwise.
func describeChannel(e *entity, c Channel) string {
	f := c.Format
	if isBoolean(f.States) {
		e.ValueTemplate = "{{ value_json.value }}"
		e.PayloadOn, e.PayloadOff = "1", "0"
		e.DeviceClass = binaryClasses[c.Channel]
		return "binary_sensor"
	}
	if len(f.States) > 0 {
		// A null state (a bad reading) renders as None, which Home Assistant shows as unknown.
		e.ValueTemplate = "{{ value_json.state | default(None) }}"
		e.DeviceClass = "enum"
		keys := make([]int64, 0, len(f.States))
		for k := range f.States {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			e.Options = append(e.Options, f.States[k])
		}
		return "sensor"
	}
	// A bad reading's null value renders as None: unknown, not zero.
	e.ValueTemplate = "{{ value_json.value }}"
	e.StateClass = "measurement"
	e.UnitOfMeasurement = f.Unit
	e.DeviceClass = sensorClass(c.Channel, f.Unit)
	if f.Unit == "%RH" {
		e.UnitOfMeasurement = "%" // the humidity class takes %
	}
	if e.DeviceClass == "energy" {
		e.StateClass = "total_increasing"
	}
	if f.Resolution > 0 {
		p := reading.Decimals(f.Resolution)
		e.SuggestedDisplayPrecision = &p
	}
	return "sensor"
}

func isBoolean(states map[int64]string) bool {
	_, off := states[0]
	_, on := states[1]
	return len(states) == 2 && off && on
}

// sensorClass is Home Assistant's sensor device class for a channel, from its unit and name; "" when
// Home Assistant has none (hydrogen, a UPS's load).
func sensorClass(ch reading.Channel, unit string) string {
	name := string(ch)
	switch unit {
	case "°C":
		return "temperature"
	case "%RH":
		return "humidity"
	case "hPa":
		return "pressure"
	case "V":
		return "voltage"
	case "A":
		return "current"
	case "W":
		return "power"
	case "Wh":
		return "energy"
	case "Hz":
		return "frequency"
	case "s":
		if ch == reading.Runtime || strings.HasSuffix(name, "_runtime") {
			return "duration"
		}
	case "%":
		if ch == reading.Charge || strings.HasSuffix(name, "_charge") || strings.HasSuffix(name, "_soc") {
			return "battery"
		}
	case "ppm":
		switch ch {
		case reading.CO2, "eco2":
			return "carbon_dioxide"
		case "co":
			return "carbon_monoxide"
		}
	case "ppb":
		if ch == reading.VOC || ch == "tvoc" {
			return "volatile_organic_compounds_parts"
		}
	}
	return ""
}
