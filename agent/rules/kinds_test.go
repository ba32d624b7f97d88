package rules

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The sensors of the kinds' golden tests: a small battery room.
const kindSensors = `gateway: {id: gw1, site: dc1}
sensors:
  - {id: string1, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: string2, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: string3, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: batt-room.air, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: batt-room.offgas, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: batt-room.smoke, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: ups1, driver: sim, every: 10s, labels: {room: battery-room}}
rules:
`

// traceBuilder writes a trace in seconds.
type traceBuilder struct{ b strings.Builder }

func newTrace() *traceBuilder {
	t := &traceBuilder{}
	t.b.WriteString("time,sensor,channel,value,error\n")
	return t
}

func (t *traceBuilder) good(sec float64, sensor, ch string, v float64) {
	fmt.Fprintf(&t.b, "%g,%s,%s,%s,\n", sec, sensor, ch, fmtCSV(v))
}

func (t *traceBuilder) bad(sec float64, sensor, ch, why string) {
	fmt.Fprintf(&t.b, "%g,%s,%s,,%s\n", sec, sensor, ch, why)
}

func fmtCSV(v float64) string { return fmt.Sprintf("%.2f", math.Round(v*100)/100) }

// golden replays a trace through the rules and compares the timeline with testdata/kinds/<name>.timeline
// (go test -run Kinds -update rewrites it). It returns the timeline.
func golden(t *testing.T, name, rules, trace string) string {
	t.Helper()
	e := parseConfig(t, kindSensors+rules).engine(t)
	var out bytes.Buffer
	if _, _, err := Replay(e, strings.NewReader(trace), &out, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "kinds", name+".timeline")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Kinds -update creates it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("%s differs (go test -run Kinds -update rewrites it):\n%s", path, DiffLines(string(want), out.String()))
	}
	return out.String()
}

// lines returns the timeline's lines that contain every one of words.
func lines(timeline string, words ...string) []string {
	var out []string
	for _, l := range strings.Split(timeline, "\n") {
		ok := l != ""
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// TestKindsDifferential: three strings share a charging rise and string1 normally runs 1.2 °C warmer;
// neither is an alarm. At minute 60 string1 alone starts to warm 0.4 °C/min: raised once its excess over
// the others' median, beyond its learned normal offset, passes 3 °C for 20 s.
func TestKindsDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	tr := newTrace()
	for sec := 0.0; sec <= 100*60; sec += 10 {
		common := 24 + 2*math.Min(sec/1800, 1) // charging warms every string by 2 °C over 30 min
		for i, s := range []string{"string1", "string2", "string3"} {
			v := common + 0.05*rng.NormFloat64()
			if i == 0 {
				v += 1.2
				if sec > 3600 {
					v += 0.4 * (sec - 3600) / 60
				}
			}
			tr.good(sec, s, "battery_temp", v)
		}
	}
	tl := golden(t, "differential", `  - {id: string-hotter, match: {channel: battery_temp}, against: {channel: battery_temp}, above: 3, clear: 2, learn: 6h, for: 20s}
`, tr.b.String())
	raises := lines(tl, "raise")
	if len(raises) != 1 || !strings.Contains(raises[0], "string-hotter/string1/battery_temp") || !strings.Contains(raises[0], "above the median of 2 others") {
		t.Fatalf("want one raise for string1:\n%s", tl)
	}
	// 3 °C beyond the 1.2 °C normal at 0.4 °C/min: 7.5 min after minute 60, plus the 20 s delay.
	if at := raises[0][:6]; at < "4050s " || at > "4080s " {
		t.Fatalf("raised at %s:\n%s", at, tl)
	}
}

// TestKindsDifferentialWithoutFreshReference: a reference that stopped answering is not compared with.
func TestKindsDifferentialWithoutFreshReference(t *testing.T) {
	g := &rig{t: t, e: parseConfig(t, kindSensors+`  - {id: batt-vs-air, match: {channel: battery_temp}, against: {sensor: batt-room.air, channel: temperature}, above: 10}
`).engine(t)}
	expect(t, "no reference yet", g.read(0, "string1", "battery_temp", 40))
	expect(t, "reference", g.read(5, "batt-room.air", "temperature", 22))
	expect(t, "18 °C above the room", g.read(10, "string1", "battery_temp", 40), "raise batt-vs-air/string1/battery_temp active")
	if m := g.last().Message; m != "battery-room string1 battery_temp 40 °C, 18 °C above batt-room.air temperature (22 °C; limit 10 °C)" {
		t.Fatalf("message %q", m)
	}
	expect(t, "back in line", g.read(20, "string1", "battery_temp", 25), "clear batt-vs-air/string1/battery_temp cleared")
	// The room sensor's last reading is older than its gap (30 s): no comparison, the alarm holds.
	expect(t, "stale reference", g.read(100, "string1", "battery_temp", 60))
}

// TestKindsAboveBaseline: a VOC sensor reading 150 ppb, drifting slowly, then cleaning solvent at hour 3
// (a short burst to 500 ppb: not above 3×) and a real release at hour 5 (to 3000 ppb).
func TestKindsAboveBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	tr := newTrace()
	for sec := 0.0; sec <= 6*3600; sec += 30 {
		v := 150 + 30*math.Sin(sec/3600) + 8*rng.NormFloat64()
		switch {
		case sec >= 3*3600 && sec < 3*3600+300:
			v += 250
		case sec >= 5*3600:
			v += math.Min(2850, 2850*(sec-5*3600)/600)
		}
		tr.good(sec, "batt-room.offgas", "voc", v)
	}
	tl := golden(t, "above-baseline", `  - {id: offgas-rise, match: {channel: voc}, above_baseline: {ratio: 3, min_rise: 300}, for: 60s}
`, tr.b.String())
	if r := lines(tl, "raise"); len(r) != 1 || !strings.HasPrefix(r[0], "18") || !strings.Contains(r[0], "above its baseline 1") {
		t.Fatalf("want one raise a minute or two after hour 5:\n%s", tl)
	}
}

// TestKindsStuck: an air sensor that returns the same value for 40 minutes (a frozen I2C read) raises once
// 30 minutes have passed, and clears when it moves again.
func TestKindsStuck(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	tr := newTrace()
	for sec := 0.0; sec <= 2*3600; sec += 30 {
		v := 22.4 + 0.15*rng.NormFloat64()
		if sec >= 1800 && sec < 1800+2400 {
			v = 22.43
		}
		tr.good(sec, "batt-room.air", "temperature", v)
	}
	tl := golden(t, "stuck", `  - {id: sensor-stuck, match: {channel: temperature}, stuck: 30m, resolution: 0.01}
`, tr.b.String())
	if len(lines(tl, "raise", "stuck at 22.43 °C for 30m")) != 1 || len(lines(tl, "clear")) != 1 {
		t.Fatalf("timeline:\n%s", tl)
	}
}

// TestKindsDeviceStale: a UPS with four channels stops answering: one alarm for the device, not four.
func TestKindsDeviceStale(t *testing.T) {
	tr := newTrace()
	for sec := 0.0; sec <= 600; sec += 10 {
		if sec >= 120 && sec < 400 {
			tr.bad(sec, "ups1", "", "nut: ERR DATA-STALE")
			continue
		}
		for _, ch := range []string{"on_battery", "low_battery", "charge", "runtime"} {
			tr.good(sec, "ups1", ch, 1)
		}
	}
	tl := golden(t, "device-stale", `  - {id: sensor-dead, match: {sensor: ups1}, stale: 60s, device: true}
`, tr.b.String())
	want := "raise    warning  active,unacked  sensor-dead/ups1/device: battery-room ups1 silent: no good reading on any channel for 1m (limit 1m); last error: nut: ERR DATA-STALE"
	if r := lines(tl, "raise"); len(r) != 1 || !strings.Contains(r[0], want) || len(lines(tl, "clear")) != 1 {
		t.Fatalf("timeline:\n%s", tl)
	}
}

// TestKindsCompositeMemory: off-gas at minute 10 (gone by minute 14) and string1 running hot at minute 30
// are two sensors agreeing within 30 minutes: pre-runaway. Smoke at minute 50, with that evidence seen in
// the last 30 minutes, raises the fire alarm in the same evaluation, and the fire alarm stays while smoke
// is latched, though the string cools.
func TestKindsCompositeMemory(t *testing.T) {
	tr := newTrace()
	for sec := 0.0; sec <= 90*60; sec += 10 {
		voc := 150.0
		if sec >= 600 && sec < 840 {
			voc = 2000
		}
		tr.good(sec, "batt-room.offgas", "voc", voc)
		temp := 25.0
		if sec >= 1800 && sec < 3300 {
			temp = 32
		}
		tr.good(sec, "string1", "battery_temp", temp)
		smoke := 0.0
		if sec >= 3000 && sec < 4000 {
			smoke = 1
		}
		tr.good(sec, "batt-room.smoke", "smoke", smoke)
	}
	tl := golden(t, "composite-memory", `  - {id: offgas-voc, match: {channel: voc}, above: 1000, clear: 500}
  - {id: string-hot, match: {channel: battery_temp}, above: 30, clear: 28}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: evidence, any: [offgas-voc, string-hot], internal: true}
  - {id: pre-runaway, any: [offgas-voc, string-hot], at_least: 2, distinct_sensors: true, within: 30m, severity: critical}
  - {id: fire-alarm, all: [smoke, evidence], within: 30m, latch: true, severity: critical}
`, tr.b.String())
	if r := lines(tl, "raise", "pre-runaway:"); len(r) != 1 || !strings.HasPrefix(r[0], "1800s") {
		t.Fatalf("pre-runaway:\n%s", tl)
	}
	if r := lines(tl, "raise", "fire-alarm:"); len(r) != 1 || !strings.HasPrefix(r[0], "3000s") {
		t.Fatalf("fire alarm:\n%s", tl)
	}
	if len(lines(tl, "clear", "fire-alarm")) != 0 || len(lines(tl, "evidence:")) != 0 {
		t.Fatalf("the fire alarm cleared, or the internal rule was published:\n%s", tl)
	}
}

// TestKindsUnless: a 10 s UPS self-test puts it on battery without an alarm; a real outage raises.
func TestKindsUnless(t *testing.T) {
	tr := newTrace()
	for sec := 0.0; sec <= 1200; sec += 2 {
		test := sec >= 100 && sec < 110
		ob := test || sec >= 600
		tr.good(sec, "ups1", "on_battery", b2f(ob))
		tr.good(sec, "ups1", "self_test", b2f(test))
	}
	tl := golden(t, "unless", `  - {id: ups-self-test, match: {channel: self_test}, state: true, clear_for: 30s, severity: info}
  - {id: ups-on-battery, match: {channel: on_battery}, state: true, for: 5s, unless: [ups-self-test]}
`, tr.b.String())
	if r := lines(tl, "raise", "ups-on-battery/"); len(r) != 1 || !strings.HasPrefix(r[0], "606s") {
		t.Fatalf("timeline:\n%s", tl)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
