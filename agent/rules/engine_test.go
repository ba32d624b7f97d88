package rules

import (
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

const warmKey = "warm/r1.inlet/temperature"

func TestLevelHysteresisEdges(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {sensor: "r*.inlet", channel: temperature}, above: 27, clear: 26}`)
	expect(t, "at the threshold is not above it", g.read(0, "r1.inlet", "temperature", 27))
	expect(t, "above raises", g.read(1, "r1.inlet", "temperature", 27.01), "raise "+warmKey+" active")
	a := g.last()
	if *a.Value != 27.01 || *a.Threshold != 27 || a.Unit != "°C" || a.Since != at(1) || a.Acked {
		t.Fatalf("raised alarm: %s value %v threshold %v unit %q", fmtAlarm(a), *a.Value, *a.Threshold, a.Unit)
	}
	if a.Message != "hall3 r1.inlet temperature 27.01 °C, above 27 °C" {
		t.Fatalf("message %q", a.Message)
	}
	if a.Labels["rack"] != "r1" || a.Gateway != "gw1" || a.Site != "dc1" || a.Severity != "warning" {
		t.Fatalf("alarm fields: %+v", a)
	}
	expect(t, "between clear and threshold holds", g.read(2, "r1.inlet", "temperature", 26.5))
	expect(t, "just above clear holds", g.read(3, "r1.inlet", "temperature", 26.01))
	expect(t, "at clear clears", g.read(4, "r1.inlet", "temperature", 26), "clear "+warmKey+" cleared")
	if m := g.last().Message; m != "hall3 r1.inlet temperature back to normal, now 26 °C" {
		t.Fatalf("clear message %q", m)
	}
	expect(t, "between clear and threshold does not re-raise", g.read(5, "r1.inlet", "temperature", 26.9))
	expect(t, "the other rack has its own alarm", g.read(6, "r2.inlet", "temperature", 30), "raise warm/r2.inlet/temperature active")
}

func TestLevelBelow(t *testing.T) {
	g := newRig(t, `  - {id: cold, match: {channel: temperature}, below: 18, clear: 19, severity: info}`)
	expect(t, "normal", g.read(0, "r1.inlet", "temperature", 20))
	expect(t, "below", g.read(1, "r1.inlet", "temperature", 17.5), "raise cold/r1.inlet/temperature active")
	expect(t, "hysteresis", g.read(2, "r1.inlet", "temperature", 18.5))
	expect(t, "clear", g.read(3, "r1.inlet", "temperature", 19.5), "clear cold/r1.inlet/temperature cleared")
	if g.all[0].Severity != "info" || !strings.Contains(g.all[0].Message, "below 18 °C") {
		t.Fatal(fmtAlarm(g.all[0]))
	}
}

func TestForDelayResets(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27, for: 30s, clear_for: 20s}`)
	expect(t, "start", g.read(0, "r1.inlet", "temperature", 28))
	expect(t, "still waiting", g.read(20, "r1.inlet", "temperature", 28))
	expect(t, "dip resets the delay", g.read(25, "r1.inlet", "temperature", 26))
	expect(t, "hot again", g.read(30, "r1.inlet", "temperature", 28))
	expect(t, "29 s after the dip is not 30 s after the restart", g.read(59, "r1.inlet", "temperature", 28))
	if n := g.e.Next(); !n.IsZero() {
		t.Fatalf("Next = %v: a reading's delay waits for a reading, not a tick", n)
	}
	expect(t, "a tick at the delay's end has no reading to back it", g.tick(60))
	expect(t, "the reading that confirms it raises", g.read(60, "r1.inlet", "temperature", 28), "raise "+warmKey+" active")
	if a := g.last(); a.Time != at(60) || a.Since != at(60) || !strings.HasSuffix(a.Message, "above 27 °C for 30s") {
		t.Fatal(fmtAlarm(a))
	}
	expect(t, "cool", g.read(70, "r1.inlet", "temperature", 25))
	expect(t, "warm again resets clear_for", g.read(80, "r1.inlet", "temperature", 28))
	expect(t, "cool", g.read(85, "r1.inlet", "temperature", 25))
	expect(t, "not yet", g.tick(104))
	expect(t, "clear_for passes", g.read(105, "r1.inlet", "temperature", 25), "clear "+warmKey+" cleared")
}

func TestFlappingInputOneTransitionPerRealChange(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27, clear: 26}`)
	var got []string
	// Noise of ±0.4 °C around 27 while the room slowly warms, then cools back.
	vals := []float64{25, 26.6, 27.4, 26.7, 27.3, 26.6, 27.4, 28, 27.2, 26.6, 27.3, 26.4, 26.8, 25.9, 26.5, 26.9, 25}
	for i, v := range vals {
		got = append(got, g.read(float64(i), "r1.inlet", "temperature", v)...)
	}
	expect(t, "noisy crossing", got, "raise "+warmKey+" active", "clear "+warmKey+" cleared")
	if g.all[0].Time != at(2) || g.all[1].Time != at(13) {
		t.Fatalf("raise at %v, clear at %v", g.all[0].Time, g.all[1].Time)
	}
}

func TestStateRules(t *testing.T) {
	g := newRig(t, `  - {id: on-batt, match: {channel: on_battery}, state: true, severity: critical}
  - {id: mains-ok-lost, match: {channel: mains_ok}, state: false}`)
	expect(t, "on mains", g.read(0, "ups1", "on_battery", 0))
	expect(t, "on battery", g.read(10, "ups1", "on_battery", 1), "raise on-batt/ups1/on_battery active")
	if m := g.last().Message; m != "battery-room ups1 on_battery active" {
		t.Fatalf("message %q", m)
	}
	expect(t, "still on battery: no new transition", g.read(20, "ups1", "on_battery", 1))
	expect(t, "back on mains", g.read(30, "ups1", "on_battery", 0), "clear on-batt/ups1/on_battery cleared")
	expect(t, "false alarms on 0", g.read(31, "ups1", "mains_ok", 0), "raise mains-ok-lost/ups1/mains_ok active")
	expect(t, "and clears on 1", g.read(32, "ups1", "mains_ok", 1), "clear mains-ok-lost/ups1/mains_ok cleared")
}

func TestLatchNeedsAckAfterConditionClears(t *testing.T) {
	g := newRig(t, `  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}`)
	const k = "smoke/smoke1/smoke"
	expect(t, "smoke", g.read(0, "smoke1", "smoke", 1), "raise "+k+" active")
	expect(t, "smoke gone: still active, latched", g.read(5, "smoke1", "smoke", 0), "update "+k+" active")
	if m := g.last().Message; m != "battery-room smoke1 smoke back to normal; latched until acknowledged" {
		t.Fatalf("message %q", m)
	}
	expect(t, "nothing more while it stays gone", g.read(6, "smoke1", "smoke", 0))
	expect(t, "smoke returns before the ack: same alarm, no new raise", g.read(7, "smoke1", "smoke", 1))
	expect(t, "gone again", g.read(8, "smoke1", "smoke", 0), "update "+k+" active")
	got, err := g.cmd(contract.Ack, `{"alarm":"`+k+`","by":"night shift"}`, 9)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "ack clears a latched alarm whose condition is gone", got, "ack "+k+" active", "clear "+k+" cleared")
	if a := g.last(); !a.Acked || a.AckedBy != "night shift" {
		t.Fatal(fmtAlarm(a))
	}

	// Acknowledged while the condition still holds: clears with the condition.
	expect(t, "smoke again", g.read(20, "smoke1", "smoke", 1), "raise "+k+" active")
	if g.last().Acked {
		t.Fatal("a new raise must be unacknowledged")
	}
	got, _ = g.cmd(contract.Ack, `{"alarm":"`+k+`","by":"ops"}`, 21)
	expect(t, "ack while smoke", got, "ack "+k+" active")
	got, _ = g.cmd(contract.Ack, `{"alarm":"`+k+`","by":"ops"}`, 22)
	expect(t, "a redelivered ack changes nothing", got)
	expect(t, "clears with the condition", g.read(23, "smoke1", "smoke", 0), "clear "+k+" cleared")
}

func TestUnlatchedClearsUnacknowledged(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27}`)
	g.read(0, "r1.inlet", "temperature", 30)
	expect(t, "clear before ack", g.read(1, "r1.inlet", "temperature", 20), "clear "+warmKey+" cleared")
	if g.last().Acked {
		t.Fatal("cleared before anyone acknowledged: acked must stay false")
	}
	got, err := g.cmd(contract.Ack, `{"alarm":"`+warmKey+`","by":"ops"}`, 2)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "ack of a cleared alarm", got, "ack "+warmKey+" cleared")
}

func TestShelve(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27}`)
	g.read(0, "r1.inlet", "temperature", 20)
	got, err := g.cmd(contract.Shelve, `{"alarm":"`+warmKey+`","by":"tech","until":"2026-11-25T00:10:00Z"}`, 1)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "shelving is a transition", got, "shelve "+warmKey+" cleared")
	if a := g.last(); a.ShelvedUntil == nil || !a.ShelvedUntil.Equal(at(600)) {
		t.Fatal(fmtAlarm(a))
	}
	if a := g.last(); a.ShelvedBy != "tech" || !strings.Contains(a.Message, "shelved by tech until 2026-11-25T00:10:00.000Z") {
		t.Fatal(fmtAlarm(a), a.Message)
	}
	// What readings do while shelved is published as suppressed events with the true state: the central
	// side sees it, nobody is paged.
	expect(t, "raise while shelved is suppressed", g.read(10, "r1.inlet", "temperature", 30), "suppressed "+warmKey+" active")
	if a := g.last(); a.ShelvedUntil == nil || a.ShelvedBy != "tech" || a.Acked || a.Episode != a.Seq ||
		!strings.Contains(a.Message, "suppressed: shelved by tech until") {
		t.Fatal(fmtAlarm(a), a.Message)
	}
	expect(t, "clear while shelved is suppressed", g.read(20, "r1.inlet", "temperature", 20), "suppressed "+warmKey+" cleared")
	expect(t, "raise again while shelved", g.read(30, "r1.inlet", "temperature", 31), "suppressed "+warmKey+" active")
	if n := g.e.Next(); !n.Equal(at(600)) {
		t.Fatalf("Next = %v, want the shelve's end", n)
	}
	expect(t, "expiry publishes the current state", g.tick(600), "unshelve "+warmKey+" active")
	if a := g.last(); a.Acked || a.ShelvedUntil != nil || a.ShelvedBy != "" || a.Since != at(30) || !strings.Contains(a.Message, "shelve expired") {
		t.Fatal(fmtAlarm(a))
	}
	expect(t, "evaluated normally again", g.read(601, "r1.inlet", "temperature", 20), "clear "+warmKey+" cleared")

	got, _ = g.cmd(contract.Shelve, `{"alarm":"`+warmKey+`","by":"tech","until":"2026-11-25T01:00:00Z"}`, 602)
	expect(t, "shelve", got, "shelve "+warmKey+" cleared")
	got, _ = g.cmd(contract.Unshelve, `{"alarm":"`+warmKey+`","by":"tech","reason":"done"}`, 603)
	expect(t, "unshelve", got, "unshelve "+warmKey+" cleared")
	if a := g.last(); !strings.HasSuffix(a.Message, "; unshelved by tech (done)") {
		t.Fatal(a.Message)
	}
	got, _ = g.cmd(contract.Unshelve, `{"alarm":"`+warmKey+`","by":"tech"}`, 604)
	expect(t, "unshelving what is not shelved does nothing", got)

	for _, c := range []struct{ payload, want string }{
		{`{"alarm":"warm/r9/temperature","by":"x","until":"2026-11-25T01:00:00Z"}`, "unknown alarm"},
		{`{"alarm":"` + warmKey + `","by":"x","until":"2026-11-24T23:00:00Z"}`, "not in the future"},
		{`{"alarm":"` + warmKey + `","by":"x","until":"2026-11-25T08:11:00Z"}`, "asked for, rule warm allows at most 8h (shelve_max)"},
	} {
		before := g.e.Snapshot()
		got, err := g.cmd(contract.Shelve, c.payload, 605)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(got) != 0 {
			t.Fatalf("%s: err %v, transitions %v", c.payload, err, got)
		}
		if after := g.e.Snapshot(); after.Seq != before.Seq || len(after.Alarms) != len(before.Alarms) {
			t.Fatalf("%s: a refused command changed the state", c.payload)
		}
	}
}

func TestRateOfRise(t *testing.T) {
	const rule = `  - {id: batt-heating, match: {sensor: ups1, channel: battery_temp}, rate_above: 2, per: 1m, window: 2m, severity: critical}`
	const k = "batt-heating/ups1/battery_temp"
	// ups1 reports every 10 s. 25 °C steady for five minutes, then rising 3 °C/min.
	temp := func(sec float64) float64 {
		if sec <= 300 {
			return 25
		}
		return 25 + 3*(sec-300)/60
	}
	t.Run("rise", func(t *testing.T) {
		g := newRig(t, rule)
		var raisedAt float64 = -1
		for sec := 0.0; sec <= 600; sec += 10 {
			if out := g.read(sec, "ups1", "battery_temp", temp(sec)); len(out) > 0 {
				expect(t, "rise", out, "raise "+k+" active")
				raisedAt = sec
				break
			}
		}
		// The rate is the median of slopes between readings 30 s apart (a third of the window's 12): at
		// 370 s, 7 of the 9 pairs lie on the rise at 3 °C/min or nearly, so the median passes 2 °C/min
		// 70 s into the rise.
		if raisedAt != 370 {
			t.Fatalf("raised at %vs, want 370s", raisedAt)
		}
		a := g.last()
		if a.Unit != "°C/min" || *a.Threshold != 2 || *a.Value <= 2 || *a.Value > 3 {
			t.Fatalf("%s value %v unit %q", fmtAlarm(a), *a.Value, a.Unit)
		}
		want := "battery-room ups1 battery_temp rising " + fmtNum(*a.Value) + " °C/min (limit 2 °C/min over 2m), now " + fmtNum(temp(raisedAt)) + " °C"
		if a.Message != want {
			t.Fatalf("message\n got  %q\n want %q", a.Message, want)
		}
		// Steady again at the top: the fitted rate falls and the alarm clears.
		var cleared bool
		for sec := raisedAt + 10; sec <= raisedAt+300; sec += 10 {
			if out := g.read(sec, "ups1", "battery_temp", temp(raisedAt)); len(out) > 0 {
				expect(t, "plateau", out, "clear "+k+" cleared")
				cleared = true
				break
			}
		}
		if !cleared {
			t.Fatal("rate alarm did not clear on a plateau")
		}
	})
	t.Run("one noisy sample does not raise", func(t *testing.T) {
		g := newRig(t, rule)
		for sec := 0.0; sec <= 600; sec += 10 {
			v := 25.0
			if sec == 300 {
				v = 30 // one 5 °C glitch
			}
			expect(t, "glitch", g.read(sec, "ups1", "battery_temp", v))
		}
	})
	t.Run("one noisy sample does not hide a rise", func(t *testing.T) {
		g := newRig(t, rule)
		raised := false
		for sec := 0.0; sec <= 600 && !raised; sec += 10 {
			v := temp(sec)
			if sec == 340 {
				v = 25 // one sample reads low in the middle of the rise
			}
			raised = len(g.read(sec, "ups1", "battery_temp", v)) > 0
			if raised && (sec < 380 || sec > 400) {
				t.Fatalf("raised at %vs", sec)
			}
		}
		if !raised {
			t.Fatal("the rise was hidden by one low sample")
		}
	})
	t.Run("too few readings do not evaluate", func(t *testing.T) {
		g := newRig(t, rule)
		// Two readings 10 s apart would fit 60 °C/min, and three in 20 s cover too little of the window.
		expect(t, "1", g.read(0, "ups1", "battery_temp", 25))
		expect(t, "2", g.read(10, "ups1", "battery_temp", 35))
		expect(t, "3", g.read(20, "ups1", "battery_temp", 45))
		// Bad readings fill no window.
		for sec := 30.0; sec <= 120; sec += 10 {
			expect(t, "bad", g.bad(sec, "ups1", "battery_temp", "timeout"))
		}
	})
	t.Run("fast sensor, bounded buckets", func(t *testing.T) {
		// 20 readings a second for 10 minutes through at most 64 buckets: the fit still sees the whole rise.
		g := newRig(t, `  - {id: batt-heating, match: {sensor: smoke1, channel: battery_temp}, rate_above: 2, per: 1m, window: 2m}`)
		raised := -1.0
		for i := 0; i <= 600*20 && raised < 0; i++ {
			sec := float64(i) / 20
			if len(g.read(sec, "smoke1", "battery_temp", temp(sec))) > 0 {
				raised = sec
			}
		}
		// About a minute into the rise, as above, give or take a bucket (2m/22).
		if raised < 355 || raised > 376 {
			t.Fatalf("raised at %vs", raised)
		}
		s := g.e.byKey["batt-heating/smoke1/battery_temp"]
		// 2m/5s + 2 = 26 wanted, at most maxBuckets kept.
		if len(s.win.b) != maxBuckets {
			t.Fatalf("%d buckets", len(s.win.b))
		}
	})
	t.Run("falling", func(t *testing.T) {
		g := newRig(t, `  - {id: soc-drop, match: {sensor: ups1, channel: charge}, rate_below: -5, per: 1m, window: 1m}`)
		var got []string
		for sec := 0.0; sec <= 300; sec += 10 {
			v := 100.0
			if sec > 120 {
				v = 100 - 10*(sec-120)/60
			}
			got = append(got, g.read(sec, "ups1", "charge", v)...)
		}
		expect(t, "drop", got, "raise soc-drop/ups1/charge active")
		if m := g.last().Message; !strings.HasPrefix(m, "battery-room ups1 charge falling ") || !strings.Contains(m, " %/min (limit 5 %/min over 1m), now ") {
			t.Fatalf("message %q", m)
		}
	})
}

func TestStaleness(t *testing.T) {
	g := newRig(t, `  - {id: silent, match: {sensor: ups1, channel: battery_temp}, stale: 30s}`)
	const k = "silent/ups1/battery_temp"
	expect(t, "good", g.read(0, "ups1", "battery_temp", 25))
	expect(t, "good", g.read(10, "ups1", "battery_temp", 25))
	expect(t, "failing", g.bad(20, "ups1", "battery_temp", "modbus: exception 0x0b (gateway target device failed to respond)"))
	expect(t, "failing", g.bad(30, "ups1", "battery_temp", "modbus: exception 0x0b (gateway target device failed to respond)"))
	expect(t, "a bad reading past the limit raises", g.bad(40, "ups1", "battery_temp", "modbus: read timeout"), "raise "+k+" active")
	a := g.last()
	if want := "battery-room ups1 battery_temp silent: no good reading for 30s (limit 30s); last error: modbus: read timeout"; a.Message != want {
		t.Fatalf("message\n got  %q\n want %q", a.Message, want)
	}
	if *a.Value != 30 || *a.Threshold != 30 || a.Unit != "s" {
		t.Fatal(fmtAlarm(a))
	}
	expect(t, "recovers", g.read(50, "ups1", "battery_temp", 25.5), "clear "+k+" cleared")
	if m := g.last().Message; m != "battery-room ups1 battery_temp reading again, now 25.5 °C" {
		t.Fatalf("message %q", m)
	}
	// Silence without any reading at all: only a tick can notice.
	if n := g.e.Next(); !n.Equal(at(80)) {
		t.Fatalf("Next = %v, want 80s", n)
	}
	expect(t, "tick before", g.tick(79))
	expect(t, "tick at the limit", g.tick(80), "raise "+k+" active")
	if m := g.last().Message; m != "battery-room ups1 battery_temp silent: no good reading for 30s (limit 30s)" {
		t.Fatalf("message %q", m)
	}
	expect(t, "a whole-device failure (no channel) feeds every channel", g.bad(81, "ups1", "", "serial: no such device"))
	expect(t, "recovers", g.read(90, "ups1", "battery_temp", 25), "clear "+k+" cleared")
}

func TestStaleFromStartWhenChannelsKnown(t *testing.T) {
	cfg := parseConfig(t, testSensors+`  - {id: silent, match: {sensor: "*", channel: temperature}, stale: 30s}`)
	opt := Options{}
	for _, s := range cfg.Sensors {
		sn := Sensor{ID: s.ID, Labels: s.Labels}
		if strings.HasSuffix(s.ID, ".inlet") {
			sn.Channels = []Channel{{reading.Temperature, "°C"}, {reading.Humidity, "%RH"}}
		}
		opt.Sensors = append(opt.Sensors, sn)
	}
	e, err := New(cfg.Rules, opt)
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, e: e}
	expect(t, "start", g.tick(0))
	expect(t, "r1 answers", g.read(20, "r1.inlet", "temperature", 22))
	expect(t, "r2 never answered", g.tick(30), "raise silent/r2.inlet/temperature active")
	if m := g.last().Message; m != "hall3 r2.inlet temperature silent: no good reading for 30s (limit 30s), none since start" {
		t.Fatalf("message %q", m)
	}
	expect(t, "r1 goes quiet too", g.tick(50), "raise silent/r1.inlet/temperature active")
}

func TestCompositeSameEvaluation(t *testing.T) {
	g := newRig(t, `  - {id: smoke, match: {channel: smoke}, state: true, severity: critical}
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, severity: critical}
  - {id: fire-suspected, all: [smoke, batt-hot], severity: critical}
  - {id: anything-wrong, any: [fire-suspected, on-batt]}
  - {id: on-batt, match: {channel: on_battery}, state: true}
  - {id: evacuate, all: [anything-wrong, smoke], for: 10s, message: "Battery room"}`)
	expect(t, "hot", g.read(0, "ups1", "battery_temp", 50), "raise batt-hot/ups1/battery_temp active")
	expect(t, "smoke completes all, nested any follows, in the same Eval", g.read(1, "smoke1", "smoke", 1),
		"raise smoke/smoke1/smoke active", "raise fire-suspected active", "raise anything-wrong active")
	fire := g.all[2]
	if fire.Sensor != "" || fire.Channel != "" || fire.Value != nil || fire.Severity != "critical" {
		t.Fatal(fmtAlarm(fire))
	}
	if want := "fire-suspected: all of smoke, batt-hot active (battery-room smoke1 smoke active; battery-room ups1 battery_temp 50 °C, above 45 °C)"; fire.Message != want {
		t.Fatalf("message\n got  %q\n want %q", fire.Message, want)
	}
	expect(t, "composite for waits", g.tick(10))
	expect(t, "composite for", g.tick(11), "raise evacuate active")
	if m := g.last().Message; !strings.HasPrefix(m, "Battery room: all of anything-wrong, smoke active (") {
		t.Fatalf("message %q", m)
	}
	expect(t, "on battery keeps the any active", g.read(12, "ups1", "on_battery", 1), "raise on-batt/ups1/on_battery active")
	expect(t, "temperature falls: fire clears, any holds", g.read(13, "ups1", "battery_temp", 30),
		"clear batt-hot/ups1/battery_temp cleared", "clear fire-suspected cleared")
	expect(t, "mains back: any clears, evacuate follows", g.read(14, "ups1", "on_battery", 0),
		"clear on-batt/ups1/on_battery cleared", "clear anything-wrong cleared", "clear evacuate cleared")
	got, err := g.cmd(contract.Ack, `{"alarm":"fire-suspected","by":"ops"}`, 15)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "composites are acknowledged by their rule id", got, "ack fire-suspected cleared")
}

func TestSelectorsByLabel(t *testing.T) {
	g := newRig(t, `  - {id: batt-room-warm, match: {labels: {room: battery-room}, channel: temperature}, above: 30}`)
	expect(t, "hall3 is not selected", g.read(0, "r1.inlet", "temperature", 40))
	expect(t, "battery-room is", g.read(1, "ups1", "temperature", 40), "raise batt-room-warm/ups1/temperature active")
	expect(t, "unknown sensor has no labels", g.read(2, "ghost", "temperature", 40))
}

func TestRulesWithTheSameInputAllEvaluate(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27}
  - {id: hot, match: {channel: temperature}, above: 32, severity: critical}`)
	expect(t, "both", g.read(0, "r1.inlet", "temperature", 35), "raise warm/r1.inlet/temperature active", "raise hot/r1.inlet/temperature active")
	if g.all[0].Seq != 1 || g.all[1].Seq != 2 || g.e.Seq() != 2 {
		t.Fatalf("seqs %d %d", g.all[0].Seq, g.all[1].Seq)
	}
}

func TestNewRejectsWhatItCannotEvaluate(t *testing.T) {
	cfg := parseConfig(t, testSensors+`  - {id: a, any: [b]}
  - {id: b, match: {channel: x}, above: 1}`)
	cfg.Rules[1].All = []string{"a"} // a loop Validate would have refused
	cfg.Rules[1].Above = nil
	if _, err := New(cfg.Rules, Options{}); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Fatalf("loop: %v", err)
	}
}

func TestAckUnknownAlarm(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {channel: temperature}, above: 27}`)
	_, err := g.cmd(contract.Ack, `{"alarm":"warm/r1.inlet/temperature","by":"x"}`, 0)
	if err == nil || !strings.Contains(err.Error(), "unknown alarm") {
		t.Fatalf("an alarm never seen: %v", err)
	}
	var raw []contract.Alarm
	c := contract.Command{Kind: contract.Ack, Alarm: "nope", By: "x", Nonce: "n1"}
	raw, err = g.e.Apply(c, at(1), raw)
	if err == nil || len(raw) != 0 || g.e.Seq() != 0 {
		t.Fatalf("unknown alarm: %v %v", err, raw)
	}
	if got := string(contract.NewResult(c, err).JSON()); got != `{"command":"ack","alarm":"nope","operator":"x","nonce":"n1","ok":false,"reason":"unknown_alarm","error":"rules: ack \"nope\": unknown alarm"}` {
		t.Fatalf("result %s", got)
	}
}

// TestEpisode: a page and its resolution are matched by (gateway, alarm, episode). The episode is the seq
// of the raise that opened the active period, kept by its ack and its clear; the next period has a new
// one; a raise while shelved takes the seq of the suppressed event that first publishes it, and the
// unshelve carries that episode on.
func TestEpisode(t *testing.T) {
	g := newRig(t, `  - {id: warm, match: {sensor: r1.inlet, channel: temperature}, above: 27, clear: 26}`)
	const k = "warm/r1.inlet/temperature"
	expect(t, "raise", g.read(0, "r1.inlet", "temperature", 30), "raise "+k+" active")
	if a := g.last(); a.Episode != a.Seq {
		t.Fatalf("raise: episode %d, seq %d", a.Episode, a.Seq)
	}
	first := g.last().Seq
	if _, err := g.cmd(contract.Ack, `{"alarm":"`+k+`","by":"ops"}`, 1); err != nil {
		t.Fatal(err)
	}
	expect(t, "clear", g.read(2, "r1.inlet", "temperature", 20), "clear "+k+" cleared")
	for _, a := range g.all {
		if a.Episode != first {
			t.Fatalf("%s carries episode %d, want %d", a.Event, a.Episode, first)
		}
	}
	expect(t, "raise again", g.read(3, "r1.inlet", "temperature", 30), "raise "+k+" active")
	second := g.last()
	if second.Episode != second.Seq || second.Episode == first {
		t.Fatalf("second period: episode %d seq %d", second.Episode, second.Seq)
	}
	expect(t, "clear again", g.read(4, "r1.inlet", "temperature", 20), "clear "+k+" cleared")
	if _, err := g.cmd(contract.Shelve, `{"alarm":"`+k+`","by":"tech","until":"2026-11-25T01:00:00Z"}`, 5); err != nil {
		t.Fatal(err)
	}
	expect(t, "raise while shelved is suppressed", g.read(6, "r1.inlet", "temperature", 30), "suppressed "+k+" active")
	sup := g.last()
	if sup.Episode != sup.Seq || sup.Episode == second.Episode {
		t.Fatalf("suppressed raise: episode %d seq %d", sup.Episode, sup.Seq)
	}
	if _, err := g.cmd(contract.Unshelve, `{"alarm":"`+k+`","by":"tech"}`, 7); err != nil {
		t.Fatal(err)
	}
	un := g.last()
	if un.Event != contract.EventUnshelv || un.State != contract.Active || un.Episode != sup.Seq {
		t.Fatalf("unshelve of a risen alarm: %s %s episode %d, want %d", un.Event, un.State, un.Episode, sup.Seq)
	}
}
