package reading

import (
	"math"
	"strconv"
)

// Format says how one channel's values are written for people and in payloads: its unit, the resolution
// its values are rounded to, and the names of its states. Drivers declare it per channel
// (driver.ChannelInfo); MQTT payloads, /metrics, the status page, tail and the demo all write values
// through it, so a value reads the same everywhere. The rules see the unrounded values.
type Format struct {
	Unit string
	// Resolution is the step values are rounded to: 0.1, 0.01, 0.5, 1, 10. A step also fixes how many
	// decimals a value has, so that 22.45 never appears as 22.450000000000045. 0 means undeclared: values
	// keep six significant digits, which is enough to hide the noise of float arithmetic.
	Resolution float64
	// States names the values of a boolean or enumerated channel (smoke: 0 "clear", 1 "DETECTED"; a Modbus
	// register's `states`); nil for a measured quantity.
	States map[int64]string
}

// Round is v rounded to the format's resolution.
func (f *Format) Round(v float64) float64 { return Round(v, f.Resolution) }

// AppendValue appends v rounded to the format's resolution, as a number (JSON, Prometheus and people
// read it alike): "22.45", "0.5", "1800".
func (f *Format) AppendValue(b []byte, v float64) []byte { return AppendRounded(b, v, f.Resolution) }

// State is the name of v when the channel names its states and v is one of them.
func (f *Format) State(v float64) (string, bool) {
	if f.States == nil || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return "", false
	}
	name, ok := f.States[int64(v)]
	return name, ok
}

// AppendHuman appends v as a person reads it: the state's name ("DETECTED"), or the rounded value and its
// unit ("22.45 °C").
func (f *Format) AppendHuman(b []byte, v float64) []byte {
	if name, ok := f.State(v); ok {
		return append(b, name...)
	}
	b = f.AppendValue(b, v)
	if f.Unit != "" {
		b = append(b, ' ')
		b = append(b, f.Unit...)
	}
	return b
}

// Human is AppendHuman as a string.
func (f *Format) Human(v float64) string { return string(f.AppendHuman(nil, v)) }

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// maxDecimals bounds the decimals of a step: a step with more (1/3) is treated as having this many.
const maxDecimals = 9

// Decimals is the number of decimals a resolution step has: 0.1 has 1, 0.25 has 2, 5 has 0.
func Decimals(step float64) int {
	if step <= 0 || math.IsInf(step, 0) || math.IsNaN(step) {
		return 0
	}
	for d := 0; d < maxDecimals; d++ {
		x := step * pow10[d]
		if math.Abs(x-math.Round(x)) <= 1e-9*math.Max(1, x) {
			return d
		}
	}
	return maxDecimals
}

// Round returns v rounded to a multiple of step, as the float nearest to the decimal it stands for
// (Round(22.449999, 0.1) is 22.4, which prints as "22.4"). A step of 0 or less keeps six significant
// digits. Values too large to round exactly, NaN and the infinities are returned as they are.
func Round(v, step float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	if step <= 0 || math.IsNaN(step) || math.IsInf(step, 0) {
		return roundSignificant(v, 6)
	}
	d := Decimals(step)
	p := pow10[d]
	// In units of 10^-d both the step and the result are whole numbers; dividing an exact whole number by
	// an exact power of ten gives the float nearest the decimal, with no trailing noise.
	m := math.Round(step * p)
	x := math.Round(v/step) * m
	if math.Abs(x) >= 1<<53 {
		return v
	}
	return x/p + 0 // + 0 turns -0 into 0
}

// roundSignificant rounds v to n significant digits.
func roundSignificant(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	e := int(math.Floor(math.Log10(math.Abs(v))))
	d := n - 1 - e // decimals to keep
	switch {
	case d > 0 && d < len(pow10):
		x := math.Round(v * pow10[d])
		if math.Abs(x) >= 1<<53 {
			return v
		}
		return x/pow10[d] + 0
	case d <= 0 && -d < len(pow10):
		return math.Round(v/pow10[-d])*pow10[-d] + 0
	}
	return v
}

// AppendRounded appends v rounded to step (see Round) in plain decimal notation, the shortest that reads
// back as the rounded value; very large or very small magnitudes use an exponent. Both are valid JSON
// numbers and Prometheus sample values.
func AppendRounded(b []byte, v, step float64) []byte {
	r := Round(v, step)
	if a := math.Abs(r); a >= 1e15 || a != 0 && a < 1e-6 {
		return strconv.AppendFloat(b, r, 'g', -1, 64)
	}
	return strconv.AppendFloat(b, r, 'f', -1, 64)
}

// DefaultResolution is the resolution of a channel whose driver declares none, by its unit: what the
// common sensors of that quantity resolve. 0 (six significant digits) for units it does not know.
func DefaultResolution(unit string) float64 {
	switch unit {
	case "°C", "%RH", "hPa", "Hz":
		return 0.1
	case "V", "A":
		return 0.01
	case "W", "%", "s", "ppm", "ppb", "Wh", "ticks":
		return 1
	}
	return 0
}

// Names of the states of the well-known boolean channels: the alarming state in capitals, so that it
// stands out on a status page or in a terminal.
var boolNames = map[Channel]map[int64]string{
	Smoke:          {0: "clear", 1: "DETECTED"},
	Leak:           {0: "dry", 1: "LEAK"},
	Door:           {0: "closed", 1: "OPEN"},
	OnBattery:      {0: "on mains", 1: "ON BATTERY"},
	LowBattery:     {0: "ok", 1: "LOW"},
	ReplaceBattery: {0: "ok", 1: "REPLACE"},
	Overload:       {0: "ok", 1: "OVERLOAD"},
	Fault:          {0: "ok", 1: "FAULT"},
	SelfTest:       {0: "idle", 1: "TESTING"},
}

// OnOff names the states of a boolean channel that has no names of its own (a GPIO contact or a Modbus
// bit the config names).
var OnOff = map[int64]string{0: "off", 1: "ON"}

// States returns the state names of a well-known boolean channel (smoke, leak, door, on_battery, …), or
// nil for any other channel. The map is shared: do not modify it.
func States(ch Channel) map[int64]string { return boolNames[ch] }

// BooleanStates returns the state names of a channel known to be boolean: its own names when it is a
// well-known one, OnOff otherwise.
func BooleanStates(ch Channel) map[int64]string {
	if s := boolNames[ch]; s != nil {
		return s
	}
	return OnOff
}

// CanonicalFormat is the format of a channel from its name alone: its canonical unit, the unit's default
// resolution, and the names of a well-known boolean channel (which is shown in whole steps).
func CanonicalFormat(ch Channel) Format {
	f := Format{Unit: Unit(ch), States: States(ch)}
	if f.States != nil {
		f.Resolution = 1
	} else {
		f.Resolution = DefaultResolution(f.Unit)
	}
	return f
}

// ResolutionOf turns a device's step (a register's scale, an ADC's volts per count times a calibration)
// into a resolution: the step itself when it is a short decimal (0.1, 0.004, 0.0625, 0.5), otherwise the
// largest power of ten below it (3.3/4096 V gives 0.0001), so that values keep the digits the device
// resolves and no more.
func ResolutionOf(step float64) float64 {
	step = math.Abs(step)
	if step == 0 || math.IsNaN(step) || math.IsInf(step, 0) {
		return 0
	}
	if Decimals(step) <= 4 {
		return step
	}
	return math.Pow(10, math.Floor(math.Log10(step)))
}
