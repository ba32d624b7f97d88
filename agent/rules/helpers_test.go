package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// t0 is the start of every test's clock.
var t0 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

const testSensors = `gateway: {id: gw1, site: dc1}
mqtt: {embedded_broker: "127.0.0.1:1883"}
sensors:
  - {id: ups1, driver: sim, every: 10s, labels: {room: battery-room}}
  - {id: r1.inlet, driver: sim, every: 1s, labels: {room: hall3, rack: r1}}
  - {id: r2.inlet, driver: sim, every: 1s, labels: {room: hall3, rack: r2}}
  - {id: smoke1, driver: sim, labels: {room: battery-room}}
rules:
`

// tb is what the helpers need of *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func testConfig(t tb, rules string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testSensors+rules))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func newEngine(t tb, rules string) *Engine {
	t.Helper()
	e, err := New(testConfig(t, rules), Options{Gateway: "gw1", Site: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rig drives an engine and records every transition as "event key state" lines.
type rig struct {
	t   testing.TB
	e   *Engine
	all []alarm.Alarm
	seq uint64
}

func newRig(t testing.TB, rules string) *rig { return &rig{t: t, e: newEngine(t, rules)} }

func (g *rig) add(out []alarm.Alarm) []string {
	g.t.Helper()
	var lines []string
	for _, a := range out {
		if a.Seq != g.seq+1 {
			g.t.Fatalf("seq %d follows %d: %s", a.Seq, g.seq, fmtAlarm(a))
		}
		g.seq = a.Seq
		g.all = append(g.all, a)
		lines = append(lines, a.Event+" "+a.Key+" "+a.State)
	}
	return lines
}

// read feeds a good reading at sec seconds and returns the transitions as lines.
func (g *rig) read(sec float64, sensor, ch string, v float64) []string {
	g.t.Helper()
	r := reading.Reading{Sensor: sensor, Channel: reading.Channel(ch), Value: v, At: at(sec)}
	return g.add(g.e.Eval(&r, nil))
}

// bad feeds a bad reading.
func (g *rig) bad(sec float64, sensor, ch, why string) []string {
	r := reading.Reading{Sensor: sensor, Channel: reading.Channel(ch), Quality: reading.Bad, Err: errors.New(why), At: at(sec)}
	return g.add(g.e.Eval(&r, nil))
}

func (g *rig) tick(sec float64) []string { return g.add(g.e.Tick(at(sec), nil)) }

func (g *rig) cmd(kind, payload string, sec float64) ([]string, error) {
	c, err := ParseCommand(kind, []byte(payload))
	if err != nil {
		return nil, err
	}
	out, err := g.e.Apply(c, at(sec), nil)
	return g.add(out), err
}

// last returns the last transition.
func (g *rig) last() alarm.Alarm {
	if len(g.all) == 0 {
		g.t.Fatal("no transition yet")
	}
	return g.all[len(g.all)-1]
}

func expect(t testing.TB, step string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got  %q\n want %q", step, got, want)
	}
}

func fmtAlarm(a alarm.Alarm) string {
	return fmt.Sprintf("#%d %s %s %s acked=%v %q", a.Seq, a.Event, a.Key, a.State, a.Acked, a.Message)
}
