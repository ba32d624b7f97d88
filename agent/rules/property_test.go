package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

const propertyRules = `  - {id: warm, match: {channel: temperature}, above: 27, clear: 26, for: 10s, clear_for: 5s}
  - {id: cold, match: {channel: temperature}, below: 15}
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}
  - {id: heating, match: {channel: battery_temp}, rate_above: 2, per: 1m, window: 1m}
  - {id: silent, match: {sensor: ups1}, stale: 30s}
  - {id: fire, all: [smoke, heating], severity: critical}
  - {id: trouble, any: [fire, warm], for: 5s, latch: true}
`

// published is what a consumer of …/events knows about one alarm.
type published struct {
	state   string
	shelved bool
	seen    bool
}

// TestPropertyLifecycle drives the engine with random readings, bad readings, ticks, acks, shelves and
// restarts, and checks what a consumer of the event stream relies on: seq grows by exactly one per
// transition, across restarts; a clear follows a raise (and a raise a clear); what readings do while an
// alarm is shelved is published only as suppressed events; a restart re-raises nothing.
func TestPropertyLifecycle(t *testing.T) {
	sensors := []string{"r1.inlet", "ups1", "smoke1"}
	channels := []reading.Channel{reading.Temperature, reading.Smoke, reading.BatteryTemp}
	cfg := parseConfig(t, testSensors+propertyRules)
	cfg.Gateway.ID = "gw1"
	fresh := func(rt *rapid.T) *Engine { return cfg.engine(rt) }
	rapid.Check(t, func(rt *rapid.T) {
		e := fresh(rt)
		now := t0
		var seq uint64
		pub := map[string]*published{}
		keys := []string{"fire", "trouble"}
		check := func(out []contract.Alarm, command bool) {
			for _, a := range out {
				if a.Seq != seq+1 {
					rt.Fatalf("seq %d after %d: %s", a.Seq, seq, fmtAlarm(a))
				}
				seq = a.Seq
				if a.Time.After(now) {
					rt.Fatalf("transition in the future: %s at %v (now %v)", fmtAlarm(a), a.Time, now)
				}
				p := pub[a.Key]
				if p == nil {
					p = &published{state: contract.Cleared}
					pub[a.Key] = p
					keys = append(keys, a.Key)
				}
				switch a.Event {
				case contract.EventRaise:
					if p.state == contract.Active {
						rt.Fatalf("raise of an alarm already active: %s", fmtAlarm(a))
					}
				case contract.EventClear:
					if p.state != contract.Active {
						rt.Fatalf("clear without a raise: %s", fmtAlarm(a))
					}
				case contract.EventUpdate:
					if p.state != contract.Active {
						rt.Fatalf("update of a cleared alarm: %s", fmtAlarm(a))
					}
				case contract.EventShelve:
					if a.ShelvedUntil == nil {
						rt.Fatalf("shelve without until: %s", fmtAlarm(a))
					}
					p.shelved = true
				case contract.EventUnshelv:
					p.shelved = false
				case contract.EventSuppressed:
					if !p.shelved || a.ShelvedUntil == nil {
						rt.Fatalf("suppressed while not shelved: %s", fmtAlarm(a))
					}
				}
				if p.shelved && !command && a.Event != contract.EventUnshelv && a.Event != contract.EventSuppressed {
					rt.Fatalf("%s while shelved: %s", a.Event, fmtAlarm(a))
				}
				if a.State == contract.Active && a.Episode == 0 {
					rt.Fatalf("active without an episode: %s", fmtAlarm(a))
				}
				if a.Message == "" {
					rt.Fatalf("no message: %s", fmtAlarm(a))
				}
				p.state, p.seen = a.State, true
			}
		}
		steps := rapid.IntRange(1, 150).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			now = now.Add(time.Duration(rapid.IntRange(0, 20000).Draw(rt, "ms")) * time.Millisecond)
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3:
				r := reading.Reading{Sensor: rapid.SampledFrom(sensors).Draw(rt, "sensor"),
					Channel: rapid.SampledFrom(channels).Draw(rt, "channel"),
					Value:   rapid.Float64Range(0, 50).Draw(rt, "value"), At: now}
				if r.Channel == reading.Smoke {
					r.Value = float64(rapid.IntRange(0, 1).Draw(rt, "bit"))
				}
				check(e.Eval(&r, nil), false)
			case 4:
				r := reading.Reading{Sensor: rapid.SampledFrom(sensors).Draw(rt, "sensor"), Quality: reading.Bad,
					Err: errors.New("timeout"), At: now}
				if rapid.Bool().Draw(rt, "per-channel") {
					r.Channel = rapid.SampledFrom(channels).Draw(rt, "channel")
				}
				check(e.Eval(&r, nil), false)
			case 5, 6:
				check(e.Tick(now, nil), false)
			case 7:
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				out, err := e.Apply(contract.Command{Kind: contract.Ack, Alarm: key, By: "prop"}, now, nil)
				if err != nil && (len(out) != 0 || pub[key] != nil) {
					rt.Fatalf("ack %s: %v (%d transitions)", key, err, len(out))
				}
				check(out, true)
			case 8:
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				c := contract.Command{Kind: contract.Unshelve, Alarm: key, By: "prop"}
				if rapid.IntRange(0, 3).Draw(rt, "unshelve") > 0 {
					c.Kind, c.Until = contract.Shelve, now.Add(time.Duration(rapid.IntRange(1, 600).Draw(rt, "shelve-s"))*time.Second)
				}
				out, _ := e.Apply(c, now, nil)
				check(out, true)
			case 9:
				// Kill and restart, through the JSON the agent writes.
				b, err := json.Marshal(e.Snapshot())
				if err != nil {
					rt.Fatal(err)
				}
				var st State
				if err := json.Unmarshal(b, &st); err != nil {
					rt.Fatal(err)
				}
				e = fresh(rt)
				if err := e.Restore(st); err != nil {
					rt.Fatal(err)
				}
				if e.Seq() != seq {
					rt.Fatalf("seq %d after restart, %d before", e.Seq(), seq)
				}
			}
		}
	})
}
