package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
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

// testConfig is the part of a gateway config the engine needs. The tests read it with the YAML library
// directly: agent/config imports this package, so these tests cannot use it; what they decode is checked
// by Validate as the config loader does.
type testConfig struct {
	Gateway struct{ ID, Site string }
	Sensors []struct {
		ID     string            `yaml:"id"`
		Every  settings.Duration `yaml:"every"`
		Labels map[string]string `yaml:"labels"`
	}
	Include []string
	Rules   []Rule
}

func parseConfig(t tb, src string) *testConfig {
	t.Helper()
	var cfg testConfig
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	for i := range cfg.Rules {
		cfg.Rules[i].ApplyDefaults()
	}
	for i := range cfg.Sensors {
		if cfg.Sensors[i].Every == 0 {
			cfg.Sensors[i].Every = settings.Duration(5 * time.Second) // the config's default
		}
	}
	if errs := Validate("test.yaml", cfg.Rules); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	return &cfg
}

// loadConfig reads a config and the rule files it includes (relative to it), as agent/config does.
func loadConfig(t tb, path string) *testConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg testConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	src := string(b)
	c := parseConfig(t, src)
	for _, inc := range cfg.Include {
		rb, _ := os.ReadFile(filepath.Join(filepath.Dir(path), inc))
		var rf struct{ Rules []Rule }
		if err := yaml.Unmarshal(rb, &rf); err != nil {
			t.Fatalf("%s: %v", inc, err)
		}
		for i := range rf.Rules {
			rf.Rules[i].ApplyDefaults()
		}
		c.Rules = append(c.Rules, rf.Rules...)
	}
	if errs := Validate(path, c.Rules); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	return c
}

// engine builds an engine for the config's rules and sensors.
func (c *testConfig) engine(t tb) *Engine {
	t.Helper()
	opt := Options{Gateway: c.Gateway.ID, Site: c.Gateway.Site}
	for _, s := range c.Sensors {
		opt.Sensors = append(opt.Sensors, Sensor{ID: s.ID, Every: s.Every.D(), Labels: s.Labels})
	}
	e, err := New(c.Rules, opt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newEngine(t tb, rules string) *Engine {
	t.Helper()
	return parseConfig(t, testSensors+rules).engine(t)
}

// rig drives an engine and records every transition as "event key state" lines.
type rig struct {
	t   testing.TB
	e   *Engine
	all []contract.Alarm
	seq uint64
}

func newRig(t testing.TB, rules string) *rig { return &rig{t: t, e: newEngine(t, rules)} }

func (g *rig) add(out []contract.Alarm) []string {
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
	c := testCommand(g.t, kind, payload)
	out, err := g.e.Apply(c, at(sec), nil)
	return g.add(out), err
}

// testCommand builds the command a verified operator's signed command gives the engine, from a short
// JSON form: {"alarm":…,"by":…,"until":…,"reason":…}; a shelve without until (or null) is an unshelve.
func testCommand(t tb, kind, payload string) contract.Command {
	t.Helper()
	var w struct {
		Alarm, By, Reason string
		Until             *time.Time
	}
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		t.Fatalf("test command %s: %v", payload, err)
	}
	c := contract.Command{Kind: kind, Alarm: w.Alarm, By: w.By, Reason: w.Reason}
	switch {
	case kind == contract.Shelve && w.Until == nil:
		c.Kind = contract.Unshelve
	case w.Until != nil:
		c.Until = *w.Until
	}
	return c
}

// last returns the last transition.
func (g *rig) last() contract.Alarm {
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

func fmtAlarm(a contract.Alarm) string {
	return fmt.Sprintf("#%d %s %s %s acked=%v %q", a.Seq, a.Event, a.Key, a.State, a.Acked, a.Message)
}
