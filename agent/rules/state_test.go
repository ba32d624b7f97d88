package rules

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/contract"
)

const restartRules = `  - {id: warm, match: {channel: temperature}, above: 27, clear: 26}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: silent, match: {sensor: ups1, channel: battery_temp}, stale: 30s}
  - {id: fire, all: [smoke, warm], severity: critical}
`

// restart saves the engine's state to disk as the agent does, drops the engine (a kill), builds a new one
// from the same config and restores the state into it.
func restart(t *testing.T, g *rig, rules string) *rig {
	t.Helper()
	// Through JSON, as agent/store keeps it on disk.
	b, err := json.Marshal(g.e.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, rules)
	if err := e.Restore(st); err != nil {
		t.Fatal(err)
	}
	if e.Seq() != g.e.Seq() {
		t.Fatalf("seq after restore %d, before %d", e.Seq(), g.e.Seq())
	}
	return &rig{t: t, e: e, seq: e.Seq()}
}

func TestRestartMidAlarm(t *testing.T) {
	g := newRig(t, restartRules)
	expect(t, "warm", g.read(0, "r1.inlet", "temperature", 30), "raise warm/r1.inlet/temperature active")
	expect(t, "smoke", g.read(1, "smoke1", "smoke", 1), "raise smoke/smoke1/smoke active", "raise fire active")
	expect(t, "smoke gone, latched", g.read(2, "smoke1", "smoke", 0), "update smoke/smoke1/smoke active")
	g.read(3, "r2.inlet", "temperature", 30)
	g.read(4, "r2.inlet", "temperature", 20) // cleared, unacknowledged
	if _, err := g.cmd(contract.Shelve, `{"alarm":"warm/r2.inlet/temperature","by":"tech","until":"2026-11-25T01:00:00Z"}`, 5); err != nil {
		t.Fatal(err)
	}
	g.read(6, "ups1", "battery_temp", 25)
	before := g.e.Snapshot()

	h := restart(t, g, restartRules)
	expect(t, "the same hot reading raises nothing again", h.read(10, "r1.inlet", "temperature", 30))
	expect(t, "smoke still gone: the latch is remembered, no repeat", h.read(11, "smoke1", "smoke", 0))
	expect(t, "r2 stays shelved: its raise is suppressed", h.read(12, "r2.inlet", "temperature", 35), "suppressed warm/r2.inlet/temperature active")
	expect(t, "nothing falls due", h.tick(30))
	expect(t, "ack the latched smoke: clears, and so does fire", ackOK(t, h, "smoke/smoke1/smoke", 40),
		"ack smoke/smoke1/smoke active", "clear smoke/smoke1/smoke cleared", "clear fire cleared")
	expect(t, "cool: the restored alarm clears with the next seq", h.read(41, "r1.inlet", "temperature", 20),
		"clear warm/r1.inlet/temperature cleared")
	if a := h.last(); a.Seq != before.Seq+5 || a.Since != at(41) {
		t.Fatal(fmtAlarm(a))
	}
	expect(t, "shelve expiry survives the restart", h.tick(3600), "unshelve warm/r2.inlet/temperature active")

	// A second restart keeps going from there.
	k := restart(t, h, restartRules)
	expect(t, "ups1 fails after the restart", k.bad(3700, "ups1", "battery_temp", "timeout"))
	expect(t, "stale counted from its first reading in this run", k.tick(3730), "raise silent/ups1/battery_temp active")
	if m := k.last().Message; !strings.HasSuffix(m, "none since start; last error: timeout") || k.last().Seq != h.e.Seq()+1 {
		t.Fatal(fmtAlarm(k.last()))
	}
}

func ackOK(t *testing.T, g *rig, key string, sec float64) []string {
	t.Helper()
	got, err := g.cmd(contract.Ack, `{"alarm":"`+key+`","by":"ops"}`, sec)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRestoreOrphanIsCleared(t *testing.T) {
	rules := `  - {id: warm, match: {channel: temperature}, above: 27}
`
	g := newRig(t, rules)
	g.read(0, "r1.inlet", "temperature", 30)
	st := g.e.Snapshot()
	h := &rig{t: t, e: newEngine(t, `  - {id: inlet-warm, match: {channel: temperature}, above: 28}
`)}
	if err := h.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	h.seq = h.e.Seq()
	expect(t, "orphan cleared at the first evaluation", h.tick(1), "clear warm/r1.inlet/temperature cleared")
	if m := h.last().Message; !strings.Contains(m, "no longer applies") {
		t.Fatalf("message %q", m)
	}
	expect(t, "and the new rule works", h.read(2, "r1.inlet", "temperature", 30), "raise inlet-warm/r1.inlet/temperature active")
}

func TestRestoreRefusesLateOrBadState(t *testing.T) {
	g := newRig(t, restartRules)
	g.read(0, "r1.inlet", "temperature", 30)
	if err := g.e.Restore(State{}); err == nil {
		t.Fatal("Restore after Eval must fail")
	}
	e := newEngine(t, restartRules)
	if err := e.Restore(State{Alarms: []contract.Alarm{{Key: "a b", State: "active"}}}); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestRestoredAlarmKeepsItsMessageUntilARealReading(t *testing.T) {
	g := newRig(t, restartRules)
	g.read(0, "r1.inlet", "temperature", 30)
	h := restart(t, g, restartRules)
	got := ackOK(t, h, "warm/r1.inlet/temperature", 1)
	expect(t, "ack after restart", got, "ack warm/r1.inlet/temperature active")
	if m := h.last().Message; m != "hall3 r1.inlet temperature 30 °C, above 27 °C; acknowledged by ops" {
		t.Fatalf("message %q", m)
	}
}
