package rules

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// A wrong but "good" sample followed by read errors must not complete a for: delay on that stale value:
// the errors are not evidence that the room is still at 60 °C.
func TestBadSampleThenErrorsNeverCompleteADelay(t *testing.T) {
	g := newRig(t, `  - {id: room-heat, match: {channel: temperature}, above: 57, for: 10s, latch: true, severity: critical}`)
	expect(t, "normal", g.read(0, "r1.inlet", "temperature", 24))
	expect(t, "one wild sample", g.read(1, "r1.inlet", "temperature", 60))
	expect(t, "read error", g.bad(2, "r1.inlet", "temperature", "i2c: remote I/O error"))
	expect(t, "the delay's end on a tick", g.tick(11))
	expect(t, "read error past the delay", g.bad(12, "r1.inlet", "temperature", "i2c: remote I/O error"))
	expect(t, "tick", g.tick(20))
	// A good reading after errors starts the count again, rather than completing it.
	expect(t, "hot again after the errors", g.read(21, "r1.inlet", "temperature", 60))
	expect(t, "9 s of good evidence", g.read(30, "r1.inlet", "temperature", 60))
	expect(t, "10 s of good evidence", g.read(31, "r1.inlet", "temperature", 60), "raise room-heat/r1.inlet/temperature active")
}

// A gap in the data (no readings at all) does not count towards a delay either.
func TestGapNeverCompletesADelay(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {sensor: ups1, channel: battery_temp}, above: 40, for: 60s}`)
	expect(t, "hot", g.read(0, "ups1", "battery_temp", 45))
	expect(t, "5 minutes of nothing, then hot: the count starts again", g.read(300, "ups1", "battery_temp", 45))
	for sec := 310.0; sec < 360; sec += 10 {
		expect(t, "counting", g.read(sec, "ups1", "battery_temp", 45))
	}
	expect(t, "60 s of continuous evidence", g.read(360, "ups1", "battery_temp", 45), "raise warm/ups1/battery_temp active")
}

// clear_for counts good evidence too: a sensor that fails right after the value drops does not clear.
func TestClearForNeedsGoodEvidence(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {sensor: ups1, channel: battery_temp}, above: 40, clear_for: 30s}`)
	expect(t, "hot", g.read(0, "ups1", "battery_temp", 45), "raise warm/ups1/battery_temp active")
	expect(t, "cool", g.read(10, "ups1", "battery_temp", 30))
	expect(t, "errors", g.bad(20, "ups1", "battery_temp", "timeout"))
	expect(t, "tick past clear_for", g.tick(41))
	expect(t, "good again: the count restarts", g.read(50, "ups1", "battery_temp", 30))
	expect(t, "still counting", g.read(70, "ups1", "battery_temp", 30))
	expect(t, "30 s", g.read(80, "ups1", "battery_temp", 30), "clear warm/ups1/battery_temp cleared")
}

// While a for: runs, the clear level applies: a value in the hysteresis band does not restart the wait.
func TestHysteresisHoldsWhileForRuns(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27, clear: 26, for: 30s}`)
	expect(t, "above", g.read(0, "r1.inlet", "temperature", 27.2))
	expect(t, "in the band", g.read(10, "r1.inlet", "temperature", 26.8))
	expect(t, "above", g.read(20, "r1.inlet", "temperature", 27.1))
	expect(t, "in the band: 30 s since the first", g.read(30, "r1.inlet", "temperature", 26.9), "raise "+warmKey+" active")
}

// A recalibration step of +3 °C is not a rate of rise; nor is one wild sample.
func TestRateIgnoresStepsAndSpikes(t *testing.T) {
	g := newRig(t, `  - {id: batt-heating, match: {sensor: ups1, channel: battery_temp}, rate_above: 2, per: 1m, window: 2m, severity: critical}`)
	for sec := 0.0; sec <= 1200; sec += 10 {
		v := 25.0
		if sec >= 400 {
			v = 28 // recalibrated
		}
		if sec == 800 {
			v = 60 // one wild sample
		}
		expect(t, "step or spike", g.read(sec, "ups1", "battery_temp", v))
	}
}

// Learned baselines, normal offsets and composites' memory survive a restart; a state file written
// before they existed still loads.
func TestRestartKeepsWhatWasLearned(t *testing.T) {
	const rules = `  - {id: voc-rise, match: {channel: voc}, above_baseline: {ratio: 3, min_rise: 300}}
  - {id: string-hotter, match: {channel: battery_temp}, against: {channel: battery_temp}, above: 3, learn: 6h}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: evidence, any: [voc-rise, string-hotter], internal: true}
  - {id: fire-alarm, all: [smoke, evidence], within: 30m, latch: true, severity: critical}
`
	mk := func() *rig { return &rig{t: t, e: parseConfig(t, kindSensors+rules).engine(t)} }
	g := mk()
	for sec := 0.0; sec < 3600; sec += 10 {
		g.read(sec, "batt-room.offgas", "voc", 400) // a room whose normal is 400 ppb
		g.read(sec, "string1", "battery_temp", 27)  // string1 runs 2 °C warm by nature
		g.read(sec, "string2", "battery_temp", 25)
	}
	expect(t, "a burst, 4× the baseline", g.read(3600, "batt-room.offgas", "voc", 1600), "raise voc-rise/batt-room.offgas/voc active")
	expect(t, "gone", g.read(3610, "batt-room.offgas", "voc", 400), "clear voc-rise/batt-room.offgas/voc cleared")
	b, _ := json.Marshal(g.e.Snapshot())
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	g2 := mk()
	if err := g2.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	g2.seq = g2.e.Seq()
	// With a fresh baseline the first value would be taken as normal; restored, 1600 ppb is still 4×.
	expect(t, "after restart", g2.read(4000, "batt-room.offgas", "voc", 1600), "raise voc-rise/batt-room.offgas/voc active")
	// The offset: 2 °C is string1's normal, 5.5 °C is 3.5 beyond it.
	expect(t, "string2", g2.read(4000, "string2", "battery_temp", 25))
	expect(t, "normal offset", g2.read(4000, "string1", "battery_temp", 27))
	expect(t, "beyond", g2.read(4010, "string1", "battery_temp", 30.5), "raise string-hotter/string1/battery_temp active")
	if s := g2.e.byKey["voc-rise/batt-room.offgas/voc"]; s.learned < 390 || s.learned > 410 {
		t.Fatalf("baseline %v", s.learned)
	}
	// Old state files: no "learned" key.
	var old State
	if err := json.Unmarshal([]byte(`{"seq":7,"alarms":[],"normal":["voc-rise/batt-room.offgas/voc"]}`), &old); err != nil {
		t.Fatal(err)
	}
	if err := mk().e.Restore(old); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryAcrossRestart: evidence seen before a restart still counts for the fire alarm after it.
func TestMemoryAcrossRestart(t *testing.T) {
	const rules = `  - {id: voc-high, match: {channel: voc}, above: 1000, clear: 500}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: fire-alarm, all: [smoke, voc-high], within: 30m, latch: true, severity: critical}
`
	mk := func() *rig { return &rig{t: t, e: parseConfig(t, kindSensors+rules).engine(t)} }
	g := mk()
	g.read(0, "batt-room.offgas", "voc", 2000)
	g.read(60, "batt-room.offgas", "voc", 100)
	b, _ := json.Marshal(g.e.Snapshot())
	if !strings.Contains(string(b), `"learned":[{"key":"voc-high/batt-room.offgas/voc","last_active":`) {
		t.Fatalf("state %s", b)
	}
	var st State
	json.Unmarshal(b, &st)
	g2 := mk()
	if err := g2.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	g2.seq = g2.e.Seq()
	expect(t, "smoke 20 min later", g2.read(1260, "batt-room.smoke", "smoke", 1),
		"raise smoke/batt-room.smoke/smoke active", "raise fire-alarm active")
}

// The new kinds, like the old, evaluate without allocating once their channels are known.
func TestNewKindsDoNotAllocate(t *testing.T) {
	e := parseConfig(t, kindSensors+`  - {id: voc-rise, match: {channel: voc}, above_baseline: {ratio: 3, min_rise: 300}, for: 20s}
  - {id: string-hotter, match: {channel: battery_temp}, against: {channel: battery_temp}, above: 3, learn: 6h, for: 20s}
  - {id: stuck, match: {channel: battery_temp}, stuck: 30m, resolution: 0.01}
  - {id: dead, match: {sensor: "*"}, stale: 30s, device: true}
  - {id: heating, match: {channel: battery_temp}, rate_above: 2, window: 2m}
  - {id: pre, any: [voc-rise, string-hotter, heating], at_least: 2, distinct_sensors: true, within: 30m}
`).engine(t)
	out := make([]contract.Alarm, 0, 16)
	sec := 0
	step := func() {
		at := t0.Add(time.Duration(sec) * time.Second)
		for i, s := range []string{"string1", "string2", "string3"} {
			r := reading.Reading{Sensor: s, Channel: reading.BatteryTemp, Value: 25 + 0.1*math.Sin(float64(sec+i)), At: at}
			out = e.Eval(&r, out[:0])
		}
		r := reading.Reading{Sensor: "batt-room.offgas", Channel: reading.VOC, Value: 150 + 5*math.Sin(float64(sec)), At: at}
		out = e.Eval(&r, out[:0])
		out = e.Tick(at, out[:0])
		sec += 10
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if e.Seq() != 0 {
		t.Fatalf("steady input raised %d transitions", e.Seq())
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Fatalf("%v allocations per step", allocs)
	}
}

// An internal rule is never published, not even through a restart: it is rebuilt from its inputs, and
// its memory (for a composite with within) is kept.
func TestInternalRulesAcrossRestart(t *testing.T) {
	const rules = `  - {id: voc-high, match: {channel: voc}, above: 1000, clear: 500}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: evidence, any: [voc-high], internal: true}
  - {id: fire-alarm, all: [smoke, evidence], within: 30m, latch: true, severity: critical}
`
	mk := func() *rig { return &rig{t: t, e: parseConfig(t, kindSensors+rules).engine(t)} }
	g := mk()
	expect(t, "voc", g.read(0, "batt-room.offgas", "voc", 2000), "raise voc-high/batt-room.offgas/voc active")
	st := g.e.Snapshot()
	for _, a := range st.Alarms {
		if a.Rule == "evidence" {
			t.Fatalf("internal alarm in the state: %s", fmtAlarm(a))
		}
	}
	g2 := mk()
	if err := g2.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	g2.seq = g2.e.Seq()
	expect(t, "gas gone after the restart: nothing published for the internal rule", g2.read(60, "batt-room.offgas", "voc", 100),
		"clear voc-high/batt-room.offgas/voc cleared")
	b, _ := json.Marshal(g2.e.Snapshot())
	var st2 State
	json.Unmarshal(b, &st2)
	g3 := mk()
	if err := g3.e.Restore(st2); err != nil {
		t.Fatal(err)
	}
	g3.seq = g3.e.Seq()
	expect(t, "smoke 10 minutes later, after a second restart", g3.read(660, "batt-room.smoke", "smoke", 1),
		"raise smoke/batt-room.smoke/smoke active", "raise fire-alarm active")
	if _, err := g3.cmd(contract.Ack, `{"alarm":"evidence","by":"ops"}`, 700); err == nil {
		t.Fatal("an internal rule's alarm was acknowledged")
	}
}
