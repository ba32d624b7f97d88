package actions

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

// room is the battery-room recipe of docs/actions.md: stop the charge, ventilate and sound on the
// pre-runaway critical; a beacon on any critical until acknowledged.
func room() *Engine {
	return New([]Spec{
		{Rule: "pre-runaway", Do: []string{"stop-charge", "vent-fan", "sounder"}},
		{Severity: contract.Critical, Do: []string{"beacon"}, UntilAck: true},
	}, []Output{{ID: "stop-charge"}, {ID: "vent-fan"}, {ID: "sounder", Sounder: true}, {ID: "beacon"}})
}

// story feeds transitions the way the rules engine makes them.
type story struct {
	e   *Engine
	seq uint64
	al  map[string]*contract.Alarm
}

func newStory(e *Engine) *story { return &story{e: e, al: map[string]*contract.Alarm{}} }

func (s *story) alarm(key, rule, sev string) *contract.Alarm {
	a := s.al[key]
	if a == nil {
		a = &contract.Alarm{Key: key, Rule: rule, Severity: sev}
		if parts := strings.Split(key, "/"); len(parts) == 3 {
			a.Sensor, a.Channel = parts[1], parts[2]
		}
		s.al[key] = a
	}
	return a
}

func (s *story) emit(a *contract.Alarm, event string, at time.Time) []Drive {
	s.seq++
	a.Event, a.Seq, a.Time = event, s.seq, at
	if a.State == contract.Active && a.Episode == 0 {
		a.Episode = s.seq
	}
	return s.e.Update([]contract.Alarm{*a}, at, nil)
}

func (s *story) raise(key, rule, sev string, at time.Time) []Drive {
	a := s.alarm(key, rule, sev)
	a.State, a.Acked, a.Episode = contract.Active, false, 0
	return s.emit(a, contract.EventRaise, at)
}

func (s *story) clear(key string, at time.Time) []Drive {
	a := s.al[key]
	a.State = contract.Cleared
	return s.emit(a, contract.EventClear, at)
}

func (s *story) ack(key string, at time.Time) []Drive {
	a := s.al[key]
	a.Acked = true
	return s.emit(a, contract.EventAck, at)
}

func (s *story) shelve(key string, until *time.Time, at time.Time) []Drive {
	a := s.al[key]
	a.ShelvedUntil = until
	ev := contract.EventShelve
	if until == nil {
		ev = contract.EventUnshelv
	}
	return s.emit(a, ev, at)
}

// show renders drives as "+out(cause)" / "-out(cause)" for compact expectations.
func show(ds []Drive) string {
	var parts []string
	for _, d := range ds {
		sign := "-"
		if d.On {
			sign = "+"
		}
		parts = append(parts, fmt.Sprintf("%s%s(%s)", sign, d.Output, d.Cause.Key))
	}
	return strings.Join(parts, " ")
}

func expect(t *testing.T, step string, got []Drive, want string) {
	t.Helper()
	if s := show(got); s != want {
		t.Errorf("%s: drives %q, want %q", step, s, want)
	}
}

func TestPreRunawayStopsChargeVentsAndSounds(t *testing.T) {
	s := newStory(room())
	expect(t, "warning elsewhere", s.raise("offgas-voc/batt-room.offgas/voc", "offgas-voc", contract.Warning, t0), "")
	d := s.raise("pre-runaway", "pre-runaway", contract.Critical, t0.Add(time.Second))
	expect(t, "raise", d, "+stop-charge(pre-runaway) +vent-fan(pre-runaway) +sounder(pre-runaway) +beacon(pre-runaway)")
	if d[0].Cause.Event != contract.EventRaise || d[0].Cause.Seq != 2 {
		t.Errorf("cause is not the raise: %+v", d[0].Cause)
	}
	// An acknowledgement silences the sounder at once; the beacon (until ack) goes too; the charge stays
	// stopped and the fan runs while the alarm is active (it is latched).
	expect(t, "ack", s.ack("pre-runaway", t0.Add(time.Minute)), "-sounder(pre-runaway) -beacon(pre-runaway)")
	expect(t, "clear", s.clear("pre-runaway", t0.Add(2*time.Minute)), "-stop-charge(pre-runaway) -vent-fan(pre-runaway)")
}

func TestBeaconStaysUntilAckAfterTheAlarmClears(t *testing.T) {
	s := newStory(room())
	expect(t, "raise", s.raise("smoke/batt-room.smoke/smoke", "smoke", contract.Critical, t0), "+beacon(smoke/batt-room.smoke/smoke)")
	expect(t, "second critical", s.raise("room-heat/batt-room.air/temperature", "room-heat", contract.Critical, t0.Add(time.Second)), "")
	expect(t, "clear first", s.clear("smoke/batt-room.smoke/smoke", t0.Add(time.Minute)), "")
	expect(t, "ack first", s.ack("smoke/batt-room.smoke/smoke", t0.Add(2*time.Minute)), "")
	expect(t, "ack second while active", s.ack("room-heat/batt-room.air/temperature", t0.Add(3*time.Minute)), "-beacon(room-heat/batt-room.air/temperature)")
}

func TestSounderSoundsAgainForANewAlarmOrANewEpisode(t *testing.T) {
	e := New([]Spec{{Severity: contract.Critical, Do: []string{"sounder"}}}, []Output{{ID: "sounder", Sounder: true}})
	s := newStory(e)
	expect(t, "raise", s.raise("smoke/a/smoke", "smoke", contract.Critical, t0), "+sounder(smoke/a/smoke)")
	expect(t, "ack", s.ack("smoke/a/smoke", t0.Add(time.Second)), "-sounder(smoke/a/smoke)")
	expect(t, "another critical", s.raise("fire-alarm", "fire-alarm", contract.Critical, t0.Add(2*time.Second)), "+sounder(fire-alarm)")
	expect(t, "ack it", s.ack("fire-alarm", t0.Add(3*time.Second)), "-sounder(fire-alarm)")
	expect(t, "first clears", s.clear("smoke/a/smoke", t0.Add(4*time.Second)), "")
	expect(t, "first again", s.raise("smoke/a/smoke", "smoke", contract.Critical, t0.Add(5*time.Second)), "+sounder(smoke/a/smoke)")
}

func TestMinOnHoldsAfterTheClear(t *testing.T) {
	e := New([]Spec{{Rule: "pre-runaway", Do: []string{"vent-fan", "sounder"}, MinOn: 10 * time.Minute}},
		[]Output{{ID: "vent-fan"}, {ID: "sounder", Sounder: true}})
	s := newStory(e)
	expect(t, "raise", s.raise("pre-runaway", "pre-runaway", contract.Critical, t0), "+vent-fan(pre-runaway) +sounder(pre-runaway)")
	// The acknowledgement silences the sounder even inside its min_on: a person asked for quiet.
	expect(t, "ack", s.ack("pre-runaway", t0.Add(30*time.Second)), "-sounder(pre-runaway)")
	expect(t, "clear", s.clear("pre-runaway", t0.Add(time.Minute)), "")
	expect(t, "tick 9m", e.Tick(t0.Add(9*time.Minute), nil), "")
	d := e.Tick(t0.Add(10*time.Minute), nil)
	expect(t, "tick 10m", d, "-vent-fan(pre-runaway)")
	if len(d) == 1 && d[0].Why != "pre-runaway clear" {
		t.Errorf("why %q", d[0].Why)
	}
	expect(t, "tick later", e.Tick(t0.Add(11*time.Minute), nil), "")
	// A re-raise inside min_on after a clear keeps the outputs on without a second drive; min_on then
	// counts from the first switching on.
	expect(t, "raise again", s.raise("pre-runaway", "pre-runaway", contract.Critical, t0.Add(12*time.Minute)), "+vent-fan(pre-runaway) +sounder(pre-runaway)")
	expect(t, "clear again", s.clear("pre-runaway", t0.Add(13*time.Minute)), "")
	expect(t, "raise inside min_on", s.raise("pre-runaway", "pre-runaway", contract.Critical, t0.Add(14*time.Minute)), "")
	expect(t, "tick past min_on while active", e.Tick(t0.Add(30*time.Minute), nil), "")
	expect(t, "final clear", s.clear("pre-runaway", t0.Add(31*time.Minute)), "-vent-fan(pre-runaway) -sounder(pre-runaway)")
}

func TestShelvedAlarmsDriveNothing(t *testing.T) {
	e := New([]Spec{{Sensor: "r1*", Do: []string{"beacon"}}}, []Output{{ID: "beacon"}})
	s := newStory(e)
	expect(t, "raise", s.raise("inlet-warm/r12.inlet/temperature", "inlet-warm", contract.Warning, t0), "+beacon(inlet-warm/r12.inlet/temperature)")
	expect(t, "other sensor", s.raise("inlet-warm/r22.inlet/temperature", "inlet-warm", contract.Warning, t0), "")
	until := t0.Add(time.Hour)
	expect(t, "shelve", s.shelve("inlet-warm/r12.inlet/temperature", &until, t0.Add(time.Minute)), "-beacon(inlet-warm/r12.inlet/temperature)")
	expect(t, "unshelve", s.shelve("inlet-warm/r12.inlet/temperature", nil, t0.Add(2*time.Minute)), "+beacon(inlet-warm/r12.inlet/temperature)")
}

func TestRestoreAndCarry(t *testing.T) {
	active := contract.Alarm{Key: "pre-runaway", Rule: "pre-runaway", Severity: contract.Critical, State: contract.Active, Seq: 7, Episode: 7}
	clearedUnacked := contract.Alarm{Key: "smoke/s/smoke", Rule: "smoke", Severity: contract.Critical, State: contract.Cleared, Seq: 9, Episode: 8}
	e := room()
	d := e.Restore([]contract.Alarm{active, clearedUnacked}, t0, nil)
	expect(t, "restore", d, "+stop-charge(pre-runaway) +vent-fan(pre-runaway) +sounder(pre-runaway) +beacon(smoke/s/smoke)")
	if d[0].Why != "restored" {
		t.Errorf("why %q", d[0].Why)
	}
	// A reload with one action fewer: the engine built from the new config carries the states over and
	// switches off only what the new config no longer holds.
	next := New([]Spec{{Rule: "pre-runaway", Do: []string{"stop-charge"}}}, []Output{{ID: "stop-charge"}, {ID: "vent-fan"}, {ID: "sounder", Sounder: true}, {ID: "beacon"}})
	next.Carry(e)
	expect(t, "reload", next.Restore([]contract.Alarm{active, clearedUnacked}, t0.Add(time.Second), nil), "-vent-fan(pre-runaway) -sounder(pre-runaway) -beacon(smoke/s/smoke)")
	st := next.States()
	if !st[0].On || st[0].Cause != "pre-runaway" || st[1].On {
		t.Errorf("states %+v", st)
	}
}

func TestUnrelatedTransitionsCostNothing(t *testing.T) {
	e := room()
	trs := []contract.Alarm{{Key: "inlet-warm/r12.inlet/temperature", Rule: "inlet-warm", Severity: contract.Warning, State: contract.Active}}
	out := make([]Drive, 0, 4)
	if n := testing.AllocsPerRun(100, func() { out = e.Update(trs, t0, out[:0]) }); n != 0 || len(out) != 0 {
		t.Errorf("%v allocs, drives %v", n, out)
	}
}
