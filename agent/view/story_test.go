package view

import (
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// The demo used to end without a word: the summary tells the incident back in order, in wall and room
// time, and how long the first critical came before smoke.
func TestStorySummary(t *testing.T) {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	s := &Story{Start: start, TimeScale: 10}
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	for _, a := range []contract.Alarm{
		{Key: "offgas-voc/o/voc", Rule: "offgas-voc", Channel: "voc", Severity: "warning", State: "active", Event: "raise", Time: at(19), Message: "batt-room.offgas voc 512 ppb"},
		{Key: "pre-runaway", Rule: "pre-runaway", Severity: "critical", State: "active", Event: "raise", Time: at(25), Message: "Battery room: cell venting suspected"},
		{Key: "pre-runaway", Rule: "pre-runaway", Severity: "critical", State: "active", Acked: true, Event: "ack", Time: at(30)},
		{Key: "smoke/s/smoke", Rule: "smoke", Channel: "smoke", Severity: "critical", State: "active", Event: "raise", Time: at(42), Message: "batt-room.smoke smoke DETECTED"},
		{Key: "offgas-voc/o/voc", Rule: "offgas-voc", Channel: "voc", Severity: "warning", State: "cleared", Event: "clear", Time: at(50)},
	} {
		s.Add(&a)
	}
	var b strings.Builder
	s.Summary(&b, at(62), true)
	want := `
The story is over, 1m02s in. What the gateway raised, in order:
     +19s (3m10s room time)  WARNING   offgas-voc/o/voc
     +25s (4m10s room time)  CRITICAL  pre-runaway
     +42s (7m00s room time)  CRITICAL  smoke/s/smoke
The first critical (pre-runaway) came 2m50s before smoke in the room's time; the first warning (offgas-voc) 1m00s before that.
Active now: 2 alarms, 2 of them critical.
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	(&Story{Start: start}).Summary(&b, at(5), false)
	if !strings.Contains(b.String(), "Stopped before the end of the story, 5s in") || !strings.Contains(b.String(), "no alarm was raised") ||
		!strings.Contains(b.String(), "No alarm is active now.") {
		t.Errorf("empty story: %s", b.String())
	}
	// Stopped after the first warning: one alarm, said in English.
	b.Reset()
	one := &Story{Start: start}
	one.Add(&contract.Alarm{Key: "offgas-voc/o/voc", Rule: "offgas-voc", Severity: "warning", State: "active", Event: "raise", Time: at(19)})
	one.Summary(&b, at(25), false)
	if !strings.HasSuffix(b.String(), "\nActive now: 1 alarm, not critical.\n") {
		t.Errorf("one alarm: %s", b.String())
	}
}
