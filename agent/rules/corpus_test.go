package rules

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The trace corpus: battery-room incidents and nuisances, generated here with fixed seeds and replayed
// through the shipped rules (configs/battery-room.yaml) by TestCorpus. testdata/corpus/README.md cites the
// figures each trace is built from; `go test ./agent/rules -run Corpus -corpus-out DIR` writes the CSVs
// for `rackwatch rules test`.

var corpusOut = flag.String("corpus-out", "", "write the corpus traces as CSV into this directory")

// corpusStart is every trace's first instant.
var corpusStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// room is the reference room's readings at one instant.
type room struct {
	s1, s2     float64 // battery_temp of string1 and string2, °C
	air, hum   float64 // ceiling air, °C and %RH
	voc, h2    float64 // off-gas, ppb and ppm
	smoke      float64 // 0/1
	test, ob   float64 // ups1 self_test, on_battery
	lb         float64 // low_battery
	charge, rt float64 // %, s
}

// corpusTrace is one trace of the corpus.
type corpusTrace struct {
	name    string
	summary string
	fire    bool          // a lithium-ion failure; else a nuisance or a normal day
	hours   float64       // duration
	runaway time.Duration // from the start, fire traces only
	seed    uint64
	upsEach int // seconds between UPS polls (default 10)
	// events changes the normal room at t seconds from the start.
	events func(t float64, v *room)
	// fault makes a sensor's reading at t bad (an error text) or frozen.
	fault func(t float64, sensor string) (err string, frozen bool)
	// glitch replaces one channel's reading at t with a wrong value (the room itself is unchanged, so the
	// reference heat detectors do not see it).
	glitch func(t float64, sensor, ch string) (float64, bool)
}

// normalRoom is a battery room on an ordinary day: the CRAC cycles the air by about ±1 °C every 20 minutes
// (ASHRAE TC 9.9's recommended 18-27 °C), the strings sit at 24-25 °C on float with string2 0.4 °C cooler
// by position, VOC follows occupancy (150 ppb ± 30 over the day) and hydrogen reads its zero (0.5 ppm).
func normalRoom(t float64, rng *rand.Rand) room {
	day := 2 * math.Pi * t / 86400
	cycle := math.Mod(t, 1200) / 1200 // the compressor's 20-minute cycle: warm up slowly, cool fast
	saw := 2*cycle - 1
	if cycle > 0.75 {
		saw = 0.5 - 6*(cycle-0.75)
	}
	air := 22 + 0.9*saw + 0.5*math.Sin(day) + 0.05*rng.NormFloat64()
	s := 24.5 + 0.4*math.Sin(day-0.5)
	return room{
		s1:  s + 0.05*rng.NormFloat64(),
		s2:  s - 0.4 + 0.05*rng.NormFloat64(),
		air: air, hum: 45 - 1.5*saw + 0.3*rng.NormFloat64(),
		voc:    150 + 30*math.Sin(day) + 10*rng.NormFloat64(),
		h2:     math.Max(0, 0.5+0.1*rng.NormFloat64()),
		charge: 100, rt: 1800,
	}
}

// sat is a first-order rise towards a: 0 before t0, a(1 − e^(−(t−t0)/tau)) after (t, t0 and tau in s).
func sat(t, t0, tau, a float64) float64 {
	if t < t0 {
		return 0
	}
	return a * (1 - math.Exp(-(t-t0)/tau))
}

// grow is an accelerating self-heating: 0 before t0, a(e^((t−t0)/tau) − 1) after, capped at max.
func grow(t, t0, tau, a, max float64) float64 {
	if t < t0 {
		return 0
	}
	return math.Min(max, a*(math.Exp((t-t0)/tau)-1))
}

const minute = 60.0

// failure is one lithium-ion cell failure in string1, in seconds from the trace's start: R is runaway.
type failure struct {
	R float64
	// heating: the failing module's thermistor rises a·(e^((t−t0)/tau) − 1) from R − lead.
	heatLead, heatTau, heatA float64
	// after runaway the thermistor jumps by jump over tau jumpTau.
	jump, jumpTau float64
	// off-gas in the cabinet: VOC from R − vocLead, H2 from R − h2Lead (ppb, ppm at their plateau).
	vocLead, voc, h2Lead, h2 float64
	h2Grow                   bool // H2 creeps up exponentially (LFP) rather than arriving with the vent
	smokeAfter               float64
	// ceiling air after runaway: rise to airRise °C with time constant airTau.
	airRise, airTau float64
	// far: the gas sensor at the ceiling (diluted, later) and the thermistor on another module.
	far bool
}

func (f failure) apply(t float64, v *room) {
	R := f.R
	heat := grow(t, R-f.heatLead, f.heatTau, f.heatA, 60) + sat(t, R, f.jumpTau, f.jump)
	gasDelay, gasShare, heatShare := 0.0, 1.0, 1.0
	if f.far {
		// A ceiling sensor sees the plume diluted about twelvefold and two to three minutes later; a
		// thermistor on the next module sees a sixth of the failing one's rise (modelling assumptions).
		gasDelay, gasShare, heatShare = 150, 1.0/12, 1.0/6
	}
	v.s1 += heat * heatShare
	// The sibling string warms only once the fire spreads heat through the room.
	v.s2 += sat(t, R+5*minute, 15*minute, 25)
	tg := t - gasDelay
	v.voc += gasShare * (sat(tg, R-f.vocLead, 3*minute, f.voc) + sat(tg, R, 2*minute, 4*f.voc))
	if f.h2Grow {
		v.h2 += gasShare * grow(tg, R-f.h2Lead, 8*minute, 0.5, f.h2)
	} else {
		v.h2 += gasShare * sat(tg, R-f.h2Lead, 2*minute, f.h2)
	}
	v.h2 += gasShare * sat(tg, R, 1*minute, 800)
	if t >= R+f.smokeAfter {
		v.smoke = 1
	}
	rise := sat(t, R+30, f.airTau, f.airRise)
	v.air += rise
	v.hum = math.Max(5, v.hum-rise*0.8)
	// The fire brigade cuts the room's power 10 minutes in: the UPS runs on battery, runtime falls.
	if t >= R+10*minute {
		v.ob = 1
		v.charge = math.Max(5, 100-(t-R-10*minute)/12)
		v.rt = math.Max(0, 1800-(t-R-10*minute)*1.5)
		if v.rt < 300 {
			v.lb = 1
		}
	}
}

var (
	// NMC: venting 5-30 minutes before runaway with electrolyte vapour first, H2 2-8 minutes before
	// smoke, runaway from 160-220 °C cell temperature with flame: the ceiling heats past 57 °C within
	// minutes. Smoke reaches the detector 30-90 s after runaway.
	nmc = failure{R: 150 * minute, heatLead: 45 * minute, heatTau: 12 * minute, heatA: 0.19, jump: 180, jumpTau: 4 * minute,
		vocLead: 18 * minute, voc: 6000, h2Lead: 6 * minute, h2: 150, smokeAfter: 45, airRise: 120, airTau: 6 * minute}
	// LFP: slower self-heating, hydrogen-rich vent gas rising long before runaway, runaway about 90 °C
	// later than NMC with white smoke and no flame: the ceiling warms a few degrees, never to 57 °C.
	lfp = failure{R: 150 * minute, heatLead: 70 * minute, heatTau: 20 * minute, heatA: 0.22, jump: 110, jumpTau: 5 * minute,
		vocLead: 8 * minute, voc: 5000, h2Lead: 40 * minute, h2: 400, h2Grow: true, smokeAfter: 80, airRise: 15, airTau: 8 * minute}
)

func far(f failure) failure {
	f.far = true
	f.smokeAfter += 30
	return f
}

// theCorpus lists every trace. Its order is the docs table's.
func theCorpus() []corpusTrace {
	fire := func(name, summary string, f failure, seed uint64) corpusTrace {
		return corpusTrace{name: name, summary: summary, fire: true, hours: 3, runaway: time.Duration(f.R) * time.Second,
			seed: seed, events: f.apply}
	}
	at := func(h float64) float64 { return h * 3600 }
	return []corpusTrace{
		fire("nmc-near", "NMC cell failure in string1; gas sensor in the cabinet, thermistor on the failing module", nmc, 1),
		fire("nmc-far", "NMC cell failure; gas sensor at the ceiling, thermistor on another module", far(nmc), 2),
		fire("lfp-near", "LFP cell failure in string1; gas sensor in the cabinet, thermistor on the failing module", lfp, 3),
		fire("lfp-far", "LFP cell failure; gas sensor at the ceiling, thermistor on another module", far(lfp), 4),
		{name: "normal-day", summary: "24 h of an ordinary day: CRAC cycling every 20 min, occupancy VOC, float charge", hours: 24, seed: 10},
		{name: "crac-failure", summary: "the CRAC fails at 03:00: the room warms from 22 to 38 °C over 2.5 h, the strings follow; restored at 06:00",
			hours: 8, seed: 11, events: func(t float64, v *room) {
				w := sat(t, at(3), 50*minute, 17) - sat(t, at(6), 30*minute, 17)
				v.air += w
				v.hum -= 0.6 * w
				lag := sat(t, at(3)+20*minute, 60*minute, 12) - sat(t, at(6)+20*minute, 60*minute, 12)
				v.s1 += lag
				v.s2 += lag
			}},
		{name: "ups-self-test", summary: "the UPS's routine 10 s battery test at 02:00 (NUT reports OB CAL), a 60 s test at 03:00; polled every 2 s",
			hours: 4, seed: 12, upsEach: 2, events: func(t float64, v *room) {
				if (t >= at(2) && t < at(2)+10) || (t >= at(3) && t < at(3)+60) {
					v.test, v.ob = 1, 1
				}
			}},
		{name: "vrla-boost", summary: "a VRLA string in the room on boost charge from 02:00: H2 rises to about 40 ppm for 3 h",
			hours: 8, seed: 13, events: func(t float64, v *room) {
				v.h2 += sat(t, at(2), 40*minute, 40) - sat(t, at(5), 40*minute, 40)
			}},
		{name: "stuck-sensor", summary: "the air sensor returns the same temperature from 02:00 to 05:00 (a frozen I2C read)",
			hours: 6, seed: 14, fault: func(t float64, sensor string) (string, bool) {
				return "", sensor == "batt-room.air" && t >= at(2) && t < at(5)
			}},
		{name: "dropout", summary: "the off-gas sensor stops answering for 5 minutes at 02:00 (read timeouts)",
			hours: 4, seed: 15, fault: func(t float64, sensor string) (string, bool) {
				if sensor == "batt-room.offgas" && t >= at(2) && t < at(2)+5*minute {
					return "modbus: read timeout (unit 7)", false
				}
				return "", false
			}},
		{name: "recalibration", summary: "string1's thermistor is recalibrated at 03:00 and reads 3 °C higher from then on",
			hours: 6, seed: 16, events: func(t float64, v *room) {
				if t >= at(3) {
					v.s1 += 3
				}
			}},
		{name: "sensor-glitches", summary: "one 60 °C air sample at 02:00; at 04:00 a 60 °C sample then read errors; one 5000 ppb VOC sample at 05:00",
			hours: 6, seed: 17,
			glitch: func(t float64, sensor, ch string) (float64, bool) {
				switch {
				case sensor == "batt-room.air" && ch == "temperature" && (t == at(2) || t == at(4)):
					return 60, true
				case sensor == "batt-room.offgas" && ch == "voc" && t == at(5):
					return 5000, true
				}
				return 0, false
			},
			fault: func(t float64, sensor string) (string, bool) {
				if sensor == "batt-room.air" && t > at(4) && t <= at(4)+40 {
					return "i2c: remote I/O error", false
				}
				return "", false
			}},
		{name: "cleaning-solvents", summary: "the cabinets are wiped with isopropanol at 03:00: VOC to about 2500 ppb for 20 minutes",
			hours: 6, seed: 18, events: func(t float64, v *room) {
				v.voc += sat(t, at(3), 3*minute, 2400) - sat(t, at(3)+20*minute, 10*minute, 2400)
			}},
		{name: "door-open", summary: "the door is left open from 02:00 to 04:00 on a summer day: air to 29 °C, humidity to 65 %, some traffic VOC",
			hours: 6, seed: 19, events: func(t float64, v *room) {
				w := sat(t, at(2), 40*minute, 1) - sat(t, at(4), 20*minute, 1)
				v.air += 7 * w
				v.hum += 20 * w
				v.voc += 100 * w
			}},
	}
}

// corpusSensors are the reference room's sensors as the traces have them.
var corpusSensors = []struct {
	id    string
	every int
	chs   []string
}{
	{"string1", 10, []string{"battery_temp"}},
	{"string2", 10, []string{"battery_temp"}},
	{"batt-room.air", 10, []string{"temperature", "humidity"}},
	{"batt-room.offgas", 10, []string{"voc", "h2"}},
	{"batt-room.smoke", 5, []string{"smoke"}},
	{"ups1", 10, []string{"self_test", "on_battery", "low_battery", "charge", "runtime"}},
}

// detectors are the times (from the start; negative: never) at which ideal conventional detectors on the
// ceiling would trip, judged on the room itself rather than on the gateway's sensors: a 57 °C fixed heat
// detector, an 8.3 °C/min rate-of-rise detector (the rise over the last minute) and a smoke detector.
type detectors struct{ fixed, ror, smoke float64 }

// csv generates the trace: one row per sensor channel at each of its polls, in time order.
func (c *corpusTrace) csv() []byte {
	b, _ := c.generate()
	return b
}

func (c *corpusTrace) generate() ([]byte, detectors) {
	det := detectors{-1, -1, -1}
	var airHist []float64 // ceiling air every 10 s, for the rate of rise
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s: %s\n", c.name, c.summary)
	if c.fire {
		fmt.Fprintf(&b, "# thermal runaway at %s\n", corpusStart.Add(c.runaway).Format(time.RFC3339))
	}
	b.WriteString("# generated by agent/rules/corpus_test.go; sources in agent/rules/testdata/corpus/README.md\n")
	b.WriteString("time,sensor,channel,value,error\n")
	rng := rand.New(rand.NewPCG(c.seed, 14))
	frozen := map[string]room{}
	end := int(c.hours * 3600)
	for s := 0; s <= end; s++ {
		t := float64(s)
		due := false
		for _, sn := range corpusSensors {
			due = due || s%c.every(sn.id, sn.every) == 0
		}
		if !due {
			continue
		}
		v := normalRoom(t, rng)
		if c.events != nil {
			c.events(t, &v)
		}
		if s%10 == 0 {
			airHist = append(airHist, v.air)
			if det.fixed < 0 && v.air >= 57 {
				det.fixed = t
			}
			if n := len(airHist); det.ror < 0 && n > 6 && airHist[n-1]-airHist[n-7] >= 8.3 {
				det.ror = t
			}
		}
		if det.smoke < 0 && v.smoke >= 0.5 {
			det.smoke = t
		}
		ts := corpusStart.Add(time.Duration(s) * time.Second).Format(time.RFC3339)
		for _, sn := range corpusSensors {
			if s%c.every(sn.id, sn.every) != 0 {
				continue
			}
			if c.fault != nil {
				errText, freeze := c.fault(t, sn.id)
				if errText != "" {
					fmt.Fprintf(&b, "%s,%s,,,%s\n", ts, sn.id, errText)
					continue
				}
				if freeze {
					if _, ok := frozen[sn.id]; !ok {
						frozen[sn.id] = v
					}
					v2 := frozen[sn.id]
					v.air, v.hum = v2.air, v2.hum
				}
			}
			for _, ch := range sn.chs {
				val := v.value(sn.id, ch)
				if c.glitch != nil {
					if g, ok := c.glitch(t, sn.id, ch); ok {
						val = fmt.Sprintf("%g", g)
					}
				}
				fmt.Fprintf(&b, "%s,%s,%s,%s,\n", ts, sn.id, ch, val)
			}
		}
	}
	return b.Bytes(), det
}

func (c *corpusTrace) every(sensor string, def int) int {
	if sensor == "ups1" && c.upsEach > 0 {
		return c.upsEach
	}
	return def
}

// value formats one channel at the resolution its sensor reports: 0.1 °C from a BMS, 0.01 °C and 0.1 %RH
// from an air sensor, whole ppb of VOC, 0.1 ppm of H2.
func (v *room) value(sensor, ch string) string {
	f := func(x float64, digits int) string {
		s := fmt.Sprintf("%.*f", digits, x)
		if s == "-0" || strings.HasPrefix(s, "-0.") && strings.Trim(s, "-0.") == "" {
			s = strings.TrimPrefix(s, "-")
		}
		return s
	}
	switch sensor + "/" + ch {
	case "string1/battery_temp":
		return f(v.s1, 1)
	case "string2/battery_temp":
		return f(v.s2, 1)
	case "batt-room.air/temperature":
		return f(v.air, 2)
	case "batt-room.air/humidity":
		return f(math.Min(100, v.hum), 1)
	case "batt-room.offgas/voc":
		return f(math.Min(60000, math.Max(0, v.voc)), 0)
	case "batt-room.offgas/h2":
		return f(math.Min(1000, math.Max(0, v.h2)), 1)
	case "batt-room.smoke/smoke":
		return f(v.smoke, 0)
	case "ups1/self_test":
		return f(v.test, 0)
	case "ups1/on_battery":
		return f(v.ob, 0)
	case "ups1/low_battery":
		return f(v.lb, 0)
	case "ups1/charge":
		return f(v.charge, 0)
	case "ups1/runtime":
		return f(v.rt, 0)
	}
	panic(sensor + "/" + ch)
}

// writeCorpus writes every trace as CSV into dir (for -corpus-out).
func writeCorpus(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range theCorpus() {
		if err := os.WriteFile(filepath.Join(dir, c.name+".csv"), c.csv(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
