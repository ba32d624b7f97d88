package rules

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

var journalAlarm = SystemAlarm{What: "journal", Severity: contract.Critical}

// The gateway's own alarms take their seq from the engine, in line with every other transition, are
// published with the gateway's names, and survive a restart: an active one stays active without a new
// raise, and clears with the next seq.
func TestSystemAlarmSeqAndRestart(t *testing.T) {
	g := newRig(t, restartRules)
	expect(t, "warm", g.read(0, "r1.inlet", "temperature", 30), "raise warm/r1.inlet/temperature active")
	expect(t, "journal fails", g.add(g.e.RaiseSystem(journalAlarm, "journal cannot write: no space left on device", at(1), nil)),
		"raise rackwatch/gateway/journal active")
	a := g.last()
	if a.Seq != 2 || a.Episode != 2 || a.Severity != contract.Critical || a.Gateway != "gw1" || a.Site != "dc1" ||
		a.Rule != SystemRule || a.Sensor != "gateway" || a.Channel != "journal" || a.Acked {
		t.Fatalf("system alarm %+v", a)
	}
	expect(t, "the same condition again: nothing new", g.add(g.e.RaiseSystem(journalAlarm, "journal cannot write: no space left on device", at(2), nil)))
	expect(t, "another cause: an update", g.add(g.e.RaiseSystem(journalAlarm, "journal cannot write: input/output error", at(3), nil)),
		"update rackwatch/gateway/journal active")
	expect(t, "ticks leave it alone", g.tick(100))
	if !g.e.SystemActive("journal") {
		t.Fatal("not active")
	}

	h := restart(t, g, restartRules)
	if !h.e.SystemActive("journal") {
		t.Fatal("the journal alarm was forgotten (or cleared as an orphan) across the restart")
	}
	expect(t, "nothing raised or cleared again at the first evaluation", h.tick(200))
	expect(t, "the journal writes again", h.add(h.e.ClearSystem("journal", "journal writes again", at(201), nil)),
		"clear rackwatch/gateway/journal cleared")
	if c := h.last(); c.Episode != 2 || c.Message != "journal writes again" {
		t.Fatalf("clear %+v: must end episode 2 with its own message", c)
	}
	expect(t, "clearing twice does nothing", h.add(h.e.ClearSystem("journal", "x", at(202), nil)))
}

// A notice (the state was rebuilt) is active until acknowledged, also across a restart, then clears.
func TestSystemNoticeClearsOnAck(t *testing.T) {
	g := newRig(t, restartRules)
	notice := SystemAlarm{What: "state", Severity: contract.Warning, Notice: true}
	expect(t, "notice", g.add(g.e.RaiseSystem(notice, "alarm state rebuilt from the journal", at(0), nil)),
		"raise rackwatch/gateway/state active")
	h := restart(t, g, restartRules)
	expect(t, "still active after a restart", h.tick(10))
	expect(t, "ack clears it", ackOK(t, h, SystemKey("state"), 11),
		"ack rackwatch/gateway/state active", "clear rackwatch/gateway/state cleared")
	if !strings.Contains(h.last().Message, "rebuilt") {
		t.Fatalf("the clear lost what happened: %q", h.last().Message)
	}
}

// The engine defends itself against NaN and infinities handed over as good readings, whichever path they
// came by: NaN does not clear an active alarm nor count as fresh for staleness, +Inf raises nothing, and
// the state stays encodable.
func TestEvalTreatsNonFiniteAsBad(t *testing.T) {
	g := newRig(t, restartRules+"  - {id: batt-silent, match: {sensor: ups1, channel: temperature}, stale: 30s}\n")
	expect(t, "hot", g.read(0, "r1.inlet", "temperature", 30), "raise warm/r1.inlet/temperature active")
	expect(t, "NaN does not clear it", g.read(1, "r1.inlet", "temperature", math.NaN()))
	expect(t, "+Inf raises nothing", g.read(2, "r2.inlet", "temperature", math.Inf(1)))
	g.read(3, "ups1", "temperature", 20)
	for s := 4.0; s < 40; s++ {
		g.read(s, "ups1", "temperature", math.NaN())
	}
	if g.last().Key != "batt-silent/ups1/temperature" || g.last().Event != contract.EventRaise {
		t.Fatalf("a sensor sending only NaN must go stale: last %s", fmtAlarm(g.last()))
	}
	if !strings.Contains(g.last().Message, "not a finite number") {
		t.Errorf("the stale alarm should say why: %q", g.last().Message)
	}
	r := reading.Reading{Sensor: "r1.inlet", Channel: reading.Temperature, Value: 30, At: at(50)}
	if n := testing.AllocsPerRun(100, func() { g.e.Eval(&r, nil) }); n != 0 {
		t.Errorf("the guard costs %v allocations per good reading", n)
	}
}

// The gateway's own alarms can be shelved like others (within the default shelve_max), also after a
// restart, and what they do while shelved is published as suppressed events.
func TestSystemAlarmShelve(t *testing.T) {
	g := newRig(t, restartRules)
	g.add(g.e.RaiseSystem(journalAlarm, "journal cannot write: no space left on device", at(1), nil))
	got, err := g.cmd(contract.Shelve, `{"alarm":"`+SystemKey("journal")+`","by":"alice","until":"2026-11-25T02:00:00Z"}`, 2)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "shelved", got, "shelve rackwatch/gateway/journal active")
	h := restart(t, g, restartRules)
	expect(t, "still shelved after a restart", h.tick(10))
	expect(t, "the disk comes back while shelved", h.add(h.e.ClearSystem("journal", "journal writes again", at(11), nil)),
		"suppressed rackwatch/gateway/journal cleared")
	if _, err := h.cmd(contract.Shelve, `{"alarm":"`+SystemKey("journal")+`","by":"alice","until":"2026-11-25T09:00:00Z"}`, 12); !errors.Is(err, contract.ErrNotAllowed) {
		t.Fatalf("a 9h shelve of a system alarm: %v", err)
	}
}
