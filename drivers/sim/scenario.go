package sim

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Scenario is a named story of sensor values over time.
type Scenario struct {
	name     string
	summary  string
	duration time.Duration
	channels []reading.Channel
	clean    func(ch reading.Channel, t time.Duration) (float64, bool)
	// byRole, when set, gives the story as one sensor of the room sees it (the failing string or its
	// sibling); false falls back to clean.
	byRole func(role string, ch reading.Channel, t time.Duration) (float64, bool)
	noise  map[reading.Channel]float64 // amplitude of the noise per channel; booleans have none
}

// Name is the scenario's name as written in the config.
func (s *Scenario) Name() string { return s.name }

// Summary is one line saying what happens.
func (s *Scenario) Summary() string { return s.summary }

// Duration is how long the story takes in scenario time; afterwards values stay as at the end.
func (s *Scenario) Duration() time.Duration { return s.duration }

// Channels lists the channels the scenario produces.
func (s *Scenario) Channels() []reading.Channel { return s.channels }

// Has reports whether the scenario produces ch.
func (s *Scenario) Has(ch reading.Channel) bool {
	for _, c := range s.channels {
		if c == ch {
			return true
		}
	}
	return false
}

// Value returns the channel's value at scenario time t, with the scenario's deterministic noise, and
// whether the scenario has that channel.
func (s *Scenario) Value(ch reading.Channel, t time.Duration) (float64, bool) {
	return s.ValueSeed(ch, t, 1)
}

// ValueSeed is Value with another noise seed, so several simulated sensors on one scenario differ.
func (s *Scenario) ValueSeed(ch reading.Channel, t time.Duration, seed uint64) (float64, bool) {
	return s.ValueFor("", ch, t, seed)
}

// ValueFor is ValueSeed as the sensor playing role sees the story (role is the sensor's id unless its
// config says otherwise): in battery-runaway, string1 is the failing string and string2 a sibling.
func (s *Scenario) ValueFor(role string, ch reading.Channel, t time.Duration, seed uint64) (float64, bool) {
	v, ok := s.CleanFor(role, ch, t)
	if !ok {
		return 0, false
	}
	if a := s.noise[ch]; a > 0 && v != 0 { // a dead reading (0 V on a cut feed) stays 0
		v += a * noise(seed, ch, t)
		v = math.Round(v*100) / 100
	}
	return v, true
}

// Clean is Value without noise: the story itself.
func (s *Scenario) Clean(ch reading.Channel, t time.Duration) (float64, bool) {
	return s.CleanFor("", ch, t)
}

// CleanFor is Clean as the sensor playing role sees it.
func (s *Scenario) CleanFor(role string, ch reading.Channel, t time.Duration) (float64, bool) {
	if t < 0 {
		t = 0
	}
	if t > s.duration {
		t = s.duration
	}
	if s.byRole != nil && role != "" {
		if v, ok := s.byRole(role, ch, t); ok {
			return v, true
		}
	}
	return s.clean(ch, t)
}

// noise is a deterministic value in [-1, 1] for (seed, channel, 100 ms time step): a splitmix64 hash, so it
// needs no state, no lock and no allocation.
func noise(seed uint64, ch reading.Channel, t time.Duration) float64 {
	h := seed*0x9E3779B97F4A7C15 + uint64(t/(100*time.Millisecond))
	for i := 0; i < len(ch); i++ {
		h = (h ^ uint64(ch[i])) * 0x100000001B3
	}
	h += 0x9E3779B97F4A7C15
	h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9
	h = (h ^ (h >> 27)) * 0x94D049BB133111EB
	h ^= h >> 31
	return float64(h>>11)/float64(1<<53)*2 - 1
}

var scenarios = map[string]*Scenario{}

func register(s *Scenario) { scenarios[s.name] = s }

// Lookup returns the named scenario.
func Lookup(name string) (*Scenario, error) {
	if s, ok := scenarios[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("sim: unknown scenario %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the scenarios, sorted.
func Names() []string {
	out := make([]string, 0, len(scenarios))
	for n := range scenarios {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ramp goes linearly from a to b between t0 and t1 (scenario minutes), and holds outside.
func ramp(t time.Duration, t0, t1 float64, a, b float64) float64 {
	m := t.Minutes()
	switch {
	case m <= t0:
		return a
	case m >= t1:
		return b
	}
	return a + (b-a)*(m-t0)/(t1-t0)
}

func step(t time.Duration, at float64) float64 {
	if t.Minutes() >= at {
		return 1
	}
	return 0
}

// Steady hall: the values every other scenario starts from.
var hall = map[reading.Channel]float64{
	reading.Temperature: 22.5, reading.Humidity: 45, reading.Pressure: 1013, reading.DewPoint: 10.2,
	reading.Smoke: 0, reading.VOC: 60, reading.H2: 0.5, reading.CO2: 450,
	reading.BatteryTemp: 25, reading.BatteryVoltage: 54.4, reading.Charge: 100, reading.Runtime: 1800,
	reading.Load: 35, reading.InputVoltage: 230, reading.OutputVoltage: 230, reading.OnBattery: 0,
	reading.LowBattery: 0, reading.Leak: 0, reading.Door: 0, reading.ReplaceBattery: 0, reading.Overload: 0,
	reading.Fault: 0, reading.SelfTest: 0,
}

var hallNoise = map[reading.Channel]float64{
	reading.Temperature: 0.15, reading.Humidity: 0.5, reading.Pressure: 0.3, reading.DewPoint: 0.15,
	reading.VOC: 8, reading.H2: 0.1, reading.CO2: 10, reading.BatteryTemp: 0.1, reading.BatteryVoltage: 0.05,
	reading.Load: 0.5, reading.InputVoltage: 0.8, reading.OutputVoltage: 0.3,
}

func hallChannels() []reading.Channel {
	out := make([]reading.Channel, 0, len(hall))
	for ch := range hall {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func init() {
	register(&Scenario{
		name: "steady", summary: "a normal hall: inlet 22.5 °C, 45 %RH, batteries at 25 °C on mains",
		duration: 10 * time.Minute, channels: hallChannels(), noise: hallNoise,
		clean: func(ch reading.Channel, t time.Duration) (float64, bool) {
			v, ok := hall[ch]
			return v, ok
		},
	})
	register(&Scenario{
		name:    "hot-aisle",
		summary: "a cooling unit fails: inlet air drifts from 23 °C past ASHRAE's recommended 27 °C to 33 °C over 10 minutes",
		// ASHRAE TC 9.9 recommends 18–27 °C at the IT inlet; A1 allows up to 32 °C.
		duration: 10 * time.Minute, channels: hallChannels(), noise: hallNoise,
		clean: func(ch reading.Channel, t time.Duration) (float64, bool) {
			switch ch {
			case reading.Temperature:
				return ramp(t, 1, 10, 23, 33), true
			case reading.Humidity:
				// The same absolute humidity at a higher temperature is a lower relative humidity.
				return ramp(t, 1, 10, 45, 31), true
			}
			v, ok := hall[ch]
			return v, ok
		},
	})
	register(&Scenario{
		name: "battery-runaway",
		summary: "a lithium battery string (string1) goes into thermal runaway: its temperature rises ever faster " +
			"from minute 2 while its sibling (string2) stays at 25 °C, electrolyte off-gas (VOC, then H2) from " +
			"minute 3, runaway and smoke at minute 7, the UPS goes on battery at 7.5 and runs low at 9.5",
		duration: 10 * time.Minute, channels: hallChannels(), noise: hallNoise,
		clean: batteryRunaway, byRole: batteryRunawayRole,
	})
}

// batteryRunawayRole is the story as the other strings of the room see it: the failing string's siblings
// stay at 25 °C until the fire's heat reaches them.
func batteryRunawayRole(role string, ch reading.Channel, t time.Duration) (float64, bool) {
	if ch != reading.BatteryTemp || !strings.HasPrefix(role, "string") || role == "string1" {
		return 0, false
	}
	return 25 + ramp(t, 7.5, 10, 0, 8), true
}

// batteryRunaway follows the order of events of a lithium-ion thermal runaway (domain reference §6): the
// cell heats slowly and then faster (SEI breakdown, then electrolyte decomposition), vents solvent vapour
// (VOC) and then hydrogen before there is visible smoke, and the room only warms at the end.
func batteryRunaway(ch reading.Channel, t time.Duration) (float64, bool) {
	m := t.Minutes()
	switch ch {
	case reading.BatteryTemp:
		if m <= 2 {
			return 25, true
		}
		// Exponential heating: ≈0.8 °C/min at first, ≈5 °C/min by minute 6, runaway past 100 °C at minute 8.
		return 25 + 3*(math.Exp(0.55*(m-2))-1), true
	case reading.VOC:
		if m <= 3 {
			return 60, true
		}
		return 60 + 4000*(1-math.Exp(-(m-3)/1.5)), true
	case reading.H2:
		if m <= 4 {
			return 0.5, true
		}
		return 0.5 + 150*(1-math.Exp(-(m-4)/1.2)), true
	case reading.Smoke:
		return step(t, 7), true
	case reading.Temperature:
		return ramp(t, 6, 10, 22.5, 31), true
	case reading.OnBattery:
		return step(t, 7.5), true
	case reading.Charge:
		return ramp(t, 7.5, 10, 100, 12), true
	case reading.Runtime:
		return ramp(t, 7.5, 10, 1800, 150), true
	case reading.LowBattery:
		return step(t, 9.5), true
	case reading.InputVoltage:
		if m >= 7.5 {
			return 0, true
		}
		return 230, true
	case reading.BatteryVoltage:
		return ramp(t, 7.5, 10, 54.4, 44), true
	}
	v, ok := hall[ch]
	return v, ok
}
