package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/settings"
)

const shelveRules = `  - {id: warm, match: {channel: temperature}, above: 27, clear: 26, shelve_max: 2h}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical, shelve_max: 0}
  - {id: fire, all: [smoke, warm], severity: critical, shelve_max: 0}
  - {id: dead, match: {sensor: ups1, channel: battery_temp}, stale: 30s}
`

// A life-safety alarm (shelve_max: 0) can be acknowledged, never shelved; a shelve longer than the rule's
// shelve_max is refused and changes nothing.
func TestShelveMax(t *testing.T) {
	g := newRig(t, shelveRules)
	expect(t, "smoke", g.read(0, "smoke1", "smoke", 1), "raise smoke/smoke1/smoke active")
	before := g.e.Snapshot()
	got, err := g.cmd(contract.Shelve, `{"alarm":"smoke/smoke1/smoke","by":"alice","until":"2026-12-01T00:00:00Z"}`, 1)
	if !errors.Is(err, contract.ErrNotAllowed) || !strings.Contains(err.Error(), "never shelved (shelve_max: 0") || len(got) != 0 {
		t.Fatalf("shelve of smoke: %v %v", err, got)
	}
	if contract.ReasonOf(err) != contract.ReasonNotAllowed {
		t.Fatal(contract.ReasonOf(err))
	}
	if after := g.e.Snapshot(); after.Seq != before.Seq || after.Alarms[0].ShelvedUntil != nil {
		t.Fatal("a refused shelve changed the alarm")
	}
	if _, err := g.cmd(contract.Shelve, `{"alarm":"fire","by":"alice","until":"2026-11-25T00:10:00Z"}`, 1); !errors.Is(err, contract.ErrNotAllowed) {
		t.Fatalf("shelve of the composite fire alarm: %v", err)
	}
	got, err = g.cmd(contract.Ack, `{"alarm":"smoke/smoke1/smoke","by":"alice","reason":"crew on site"}`, 2)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "smoke can be acknowledged", got, "ack smoke/smoke1/smoke active")
	if a := g.last(); a.AckedBy != "alice" || !strings.HasSuffix(a.Message, "; acknowledged by alice (crew on site)") {
		t.Fatal(fmtAlarm(a), a.Message)
	}

	// warm: at most 2h.
	g.read(3, "r1.inlet", "temperature", 20)
	if _, err := g.cmd(contract.Shelve, `{"alarm":"warm/r1.inlet/temperature","by":"bob","until":"2026-11-25T02:30:00Z"}`, 3); !errors.Is(err, contract.ErrNotAllowed) ||
		!strings.Contains(err.Error(), "allows at most 2h (shelve_max)") {
		t.Fatalf("2.5h shelve: %v", err)
	}
	// Measured on the operator's clock: signed a minute before the gateway's now, 2h from then is taken,
	// and ends no later than 2h from the gateway's now.
	c := contract.Command{Kind: contract.Shelve, Alarm: "warm/r1.inlet/temperature", By: "bob", At: at(3).Add(time.Minute), Until: at(3).Add(time.Minute + 2*time.Hour)}
	out, err := g.e.Apply(c, at(3), nil)
	if err != nil || len(out) != 1 || !out[0].ShelvedUntil.Equal(at(3).Add(2*time.Hour)) || out[0].ShelvedBy != "bob" {
		t.Fatalf("%v %+v", err, out)
	}
}

// A restored shelve is held to its rule's limit at the first evaluation: the clock went back (it now
// reaches further ahead than shelve_max), or the rule may no longer be shelved at all.
func TestShelveLimitAtRestore(t *testing.T) {
	g := newRig(t, strings.Replace(shelveRules, "shelve_max: 0}\n  - {id: fire", "}\n  - {id: fire", 1)) // smoke shelvable (8h)
	g.read(0, "r1.inlet", "temperature", 20)
	g.read(0, "smoke1", "smoke", 0)
	if _, err := g.cmd(contract.Shelve, `{"alarm":"warm/r1.inlet/temperature","by":"bob","until":"2026-11-25T01:00:00Z"}`, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := g.cmd(contract.Shelve, `{"alarm":"smoke/smoke1/smoke","by":"mallory","until":"2026-11-25T07:00:00Z"}`, 1); err != nil {
		t.Fatal(err)
	}
	// Restart under the shipped policy (smoke never shelved), with the clock an hour and a half back.
	h := restart(t, g, shelveRules)
	back := -90 * 60.0
	got := h.read(back, "r1.inlet", "temperature", 20)
	expect(t, "both shelves end at the first evaluation", got,
		"unshelve warm/r1.inlet/temperature cleared", "unshelve smoke/smoke1/smoke cleared")
	for _, a := range h.all {
		if a.ShelvedUntil != nil || a.ShelvedBy != "" {
			t.Fatal(fmtAlarm(a))
		}
	}
	if m := h.all[0].Message; !strings.Contains(m, "beyond shelve_max 2h (the clock went back") {
		t.Fatal(m)
	}
	if m := h.all[1].Message; !strings.Contains(m, "is never shelved now (shelve_max: 0)") {
		t.Fatal(m)
	}
	expect(t, "smoke is published again", h.read(back+1, "smoke1", "smoke", 1), "raise smoke/smoke1/smoke active")

	// While running, too: the clock jumps back past the shelve's limit.
	if _, err := h.cmd(contract.Shelve, `{"alarm":"warm/r1.inlet/temperature","by":"bob","until":"2026-11-24T23:30:00Z"}`, back+2); err != nil {
		t.Fatal(err)
	}
	expect(t, "in limits", h.tick(back+3))
	expect(t, "the clock jumps back two hours", h.tick(back-7200), "unshelve warm/r1.inlet/temperature cleared")
}

func TestShelveMaxValidate(t *testing.T) {
	d := func(s string) *settings.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		x := settings.Duration(v)
		return &x
	}
	ok := func(m *settings.Duration, internal bool) settings.Errors {
		above := 1.0
		return Validate("r.yaml", []Rule{{ID: "r", Match: &Match{}, Above: &above, ShelveMax: m, Internal: internal, Line: 3}})
	}
	if errs := ok(d("0s"), false); len(errs) != 0 {
		t.Fatal(errs)
	}
	if errs := ok(d("168h"), false); len(errs) != 0 {
		t.Fatal(errs)
	}
	if errs := ok(d("169h"), false); len(errs) != 1 || !strings.Contains(errs.Error(), "r.yaml:3: rule \"r\": shelve_max 169h0m0s: use 0") {
		t.Fatal(errs)
	}
	if errs := ok(d("-1s"), false); len(errs) != 1 {
		t.Fatal(errs)
	}
	if errs := ok(d("1h"), true); len(errs) != 1 || !strings.Contains(errs.Error(), "never shelved; shelve_max does not apply") {
		t.Fatal(errs)
	}
	if (&Rule{}).ShelveLimit() != 8*time.Hour {
		t.Fatal("default shelve_max")
	}
}
