package reading

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Quality says whether a reading's value can be trusted.
type Quality uint8

const (
	// Good is a value read from the device and within its range.
	Good Quality = iota
	// Bad is a failed read or an out-of-range value; Err says why and Value is meaningless.
	Bad
)

func (q Quality) String() string {
	if q == Good {
		return "good"
	}
	return "bad"
}

// Channel names one measured quantity of a sensor, e.g. "temperature" or "on_battery".
type Channel string

// Well-known channels. Drivers may use others (a Modbus register map names its own); their unit then
// comes from the driver or from the suffix rules in Unit.
const (
	Temperature    Channel = "temperature"
	Humidity       Channel = "humidity"
	Pressure       Channel = "pressure"
	DewPoint       Channel = "dew_point"
	Smoke          Channel = "smoke"
	VOC            Channel = "voc"
	CO2            Channel = "co2"
	H2             Channel = "h2"
	Voltage        Channel = "voltage"
	Current        Channel = "current"
	Power          Channel = "power"
	Charge         Channel = "charge"
	Runtime        Channel = "runtime"
	Load           Channel = "load"
	OnBattery      Channel = "on_battery"
	LowBattery     Channel = "low_battery"
	Leak           Channel = "leak"
	Door           Channel = "door"
	BatteryTemp    Channel = "battery_temp"
	BatteryVoltage Channel = "battery_voltage"
	InputVoltage   Channel = "input_voltage"
	OutputVoltage  Channel = "output_voltage"
	ReplaceBattery Channel = "replace_battery"
	Overload       Channel = "overload"
	Fault          Channel = "fault"
	// SelfTest is 1 while the UPS runs a battery test (NUT CAL/TEST, Megatec's test bit): it is on
	// battery on purpose.
	SelfTest Channel = "self_test"
)

// Reading is one value of one channel of one sensor at one instant.
//
// Value is in the channel's canonical unit (°C, %RH, hPa, V, A, W, %, s, ppm, ppb); booleans are 0 or 1.
// At carries Go's monotonic clock reading for the rules and the wall clock for publishing.
type Reading struct {
	Sensor  string
	Channel Channel
	Value   float64
	Quality Quality
	// Err says why a Bad reading is bad. It is nil for Good readings.
	Err error
	At  time.Time
}

// Good reports whether the reading carries a trustworthy value.
func (r *Reading) Good() bool { return r.Quality == Good }

// ErrNotFinite is wrapped by the error of a reading whose value is NaN or infinite: a float32 register
// holding NaN, a NUT variable reading "nan", a division by zero in a driver. Such a value cannot be
// compared with a threshold, fitted into a rate or written as JSON, so it is a bad reading, never a value.
var ErrNotFinite = errors.New("value is not a finite number")

// The errors of the three non-finite values, made once: checking a reading never allocates.
var (
	errNaN    = fmt.Errorf("%w (NaN)", ErrNotFinite)
	errPosInf = fmt.Errorf("%w (+Inf)", ErrNotFinite)
	errNegInf = fmt.Errorf("%w (-Inf)", ErrNotFinite)
)

// Finite reports whether v is neither NaN nor infinite.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NotFinite returns the error for a non-finite v (wrapping ErrNotFinite), or nil when v is finite.
func NotFinite(v float64) error {
	switch {
	case math.IsNaN(v):
		return errNaN
	case math.IsInf(v, 1):
		return errPosInf
	case math.IsInf(v, -1):
		return errNegInf
	}
	return nil
}

// Vet makes a good reading whose value is not finite a bad one, with an error saying so (its Value is set
// to 0, so that nothing downstream can trip over it). It reports whether it changed r. Every reading
// passes through Vet where a driver's sample becomes a reading, whatever the driver.
func (r *Reading) Vet() bool {
	if r.Quality != Good {
		return false
	}
	err := NotFinite(r.Value)
	if err == nil {
		return false
	}
	r.Quality, r.Err, r.Value = Bad, err, 0
	return true
}

// ErrText is the error's text, or "" for a good reading.
func (r *Reading) ErrText() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

var units = map[Channel]string{
	Temperature: "°C", Humidity: "%RH", Pressure: "hPa", DewPoint: "°C",
	Smoke: "", VOC: "ppb", CO2: "ppm", H2: "ppm",
	Voltage: "V", Current: "A", Power: "W", Charge: "%", Runtime: "s", Load: "%",
	OnBattery: "", LowBattery: "", Leak: "", Door: "",
	BatteryTemp: "°C", BatteryVoltage: "V", InputVoltage: "V", OutputVoltage: "V",
	ReplaceBattery: "", Overload: "", Fault: "", SelfTest: "",
	"frequency": "Hz", "energy": "Wh", "tvoc": "ppb", "eco2": "ppm", "cpu_temp": "°C",
}

var suffixUnits = []struct{ suffix, unit string }{
	{"_temp", "°C"}, {"_temperature", "°C"}, {"_voltage", "V"}, {"_current", "A"}, {"_power", "W"},
	{"_humidity", "%RH"}, {"_charge", "%"}, {"_soc", "%"}, {"_runtime", "s"}, {"_frequency", "Hz"},
}

// Unit returns the canonical unit of a channel, or "" for booleans, counts and unknown channels.
// A driver that knows better (a register map with an explicit unit) overrides it.
func Unit(ch Channel) string {
	if u, ok := units[ch]; ok {
		return u
	}
	s := string(ch)
	for _, su := range suffixUnits {
		if strings.HasSuffix(s, su.suffix) {
			return su.unit
		}
	}
	return ""
}

// ValidID reports whether s may be used as a sensor, bus, rule or gateway id: it appears in MQTT topics,
// so it is limited to [a-z0-9._-] and may not be empty.
func ValidID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
