package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

var testdata = filepath.Join("..", "..", "agent", "rules", "testdata")

func TestRulesTestCommand(t *testing.T) {
	cfg := filepath.Join(testdata, "battery-room.yaml")
	trace := filepath.Join(testdata, "battery-room.csv")
	timeline := filepath.Join(testdata, "battery-room.timeline")

	var out, errb bytes.Buffer
	if rc := rulesTest([]string{"-c", cfg, "--trace", trace, "--expect", timeline}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), "fire-suspected: Battery room FIRE suspected") || !strings.Contains(errb.String(), "749 readings, 15 transitions") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}

	// An operator tightens the rate limit: the replay shows the heating alarm earlier, and --expect fails.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "changed.yaml")
	if err := os.WriteFile(changed, bytes.Replace(data, []byte("rate_above: 2,"), []byte("rate_above: 1,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if rc := rulesTest([]string{"-c", changed, "--trace", trace, "--expect", timeline}, &out, &errb); rc != 1 {
		t.Fatalf("exit %d, want 1: %s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), "differs from") || !strings.Contains(errb.String(), "+ 2022-10-15T06:1") {
		t.Fatalf("stderr:\n%s", errb.String())
	}

	out.Reset()
	if rc := rulesTest([]string{"-c", cfg, "--trace", trace, "--json"}, &out, &errb); rc != 0 {
		t.Fatal(rc)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, `{"gateway":"dc1-b3-battery","site":"dc1","alarm":"offgas-voc/batt-room.gas/voc"`) {
		t.Fatalf("json: %s", first)
	}

	for _, args := range [][]string{{"-c", cfg}, {"-c", filepath.Join(testdata, "missing.yaml"), "--trace", trace}, {"-c", cfg, "--trace", cfg}} {
		if rc := rulesTest(args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
}

// `rules test` says what the trace and the config do not share, and --summary gives each trace's first
// warning and first critical.
func TestRulesTestWarningsAndSummary(t *testing.T) {
	cfg := filepath.Join(testdata, "battery-room.yaml")
	dir := t.TempDir()
	other := filepath.Join(dir, "other.csv")
	if err := os.WriteFile(other, []byte("time,sensor,channel,value\n0,ups1,battery_temp,25\n10,r9.inlet,temperature,22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	rc := rulesTest([]string{"-c", cfg, "--trace", filepath.Join(testdata, "battery-room.csv"), "--trace", other, "--summary"}, &out, &errb)
	if rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	want := "battery-room.csv: first warning 2022-10-15T06:11:20.000Z offgas-voc/batt-room.gas/voc; first critical 2022-10-15T06:12:50.000Z offgas-h2/batt-room.gas/h2\n" +
		"other.csv: first warning none; first critical none\n"
	if out.String() != want {
		t.Fatalf("summary:\n%s\nwant\n%s", out.String(), want)
	}
	for _, w := range []string{
		`other.csv: warning: config sensor "batt-room.gas" has no data in the trace`,
		`other.csv: warning: config channel ups1/on_battery has no data in the trace`,
		`other.csv: warning: trace sensor "r9.inlet" is not in the config (replayed without labels or interval)`,
	} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
	if strings.Contains(errb.String(), "battery-room.csv: warning") {
		t.Errorf("the shipped trace covers its config:\n%s", errb.String())
	}
	for _, args := range [][]string{
		{"-c", cfg, "--trace", other, "--json", "--summary"},
		{"-c", cfg, "--trace", other, "--trace", other, "--expect", other},
	} {
		if rc := rulesTest(args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
}

// The reference battery room replays the corpus traces it was written for, with included rule files.
func TestRulesTestReferenceRoom(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(trace, []byte("time,sensor,channel,value\n0,batt-room.smoke,smoke,0\n5,batt-room.smoke,smoke,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := rulesTest([]string{"-c", "../../configs/battery-room.yaml", "--trace", trace}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), "raise    critical active,unacked  smoke/batt-room.smoke/smoke") {
		t.Fatalf("timeline:\n%s", out.String())
	}
}

// TestDemoStory plays configs/demo.yaml's sensors through its rules on a simulated clock, as `make demo`
// does in real time: the pre-runaway critical comes before smoke, the fire alarm comes with the smoke,
// and it never clears.
func TestDemoStory(t *testing.T) {
	plan, err := agent.LoadAndCheck("../../configs/demo.yaml", registry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := plan.Config
	e, err := rules.New(cfg.Rules, rules.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Sensors: plan.RuleSensors()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	clock := start
	var devs []*sim.Device
	var ids []string
	for _, s := range plan.Sensors {
		d, err := sim.Open(s, func() time.Time { return clock })
		if err != nil {
			t.Fatal(err)
		}
		devs, ids = append(devs, d), append(ids, s.ID)
	}
	var out []contract.Alarm
	var smokeAt time.Time
	for ms := 0; ms <= 70_000; ms += 500 {
		now := start.Add(time.Duration(ms) * time.Millisecond)
		for i, d := range devs {
			every := plan.Sensors[i].Every
			if time.Duration(ms)*time.Millisecond%every != 0 {
				continue
			}
			clock = now
			samples, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range samples {
				r := reading.Reading{Sensor: ids[i], Channel: s.Channel, Value: s.Value, At: now}
				if s.Channel == reading.Smoke && s.Value >= 0.5 && smokeAt.IsZero() {
					smokeAt = now
				}
				out = e.Eval(&r, out)
			}
		}
		out = e.Tick(now, out)
	}
	var pre, fire time.Time
	for _, a := range out {
		if a.Event == contract.EventRaise && a.Rule == "pre-runaway" && pre.IsZero() {
			pre = a.Time
		}
		if a.Event == contract.EventRaise && a.Rule == "fire-alarm" && fire.IsZero() {
			fire = a.Time
		}
		if a.Rule == "fire-alarm" && a.State != contract.Active {
			t.Errorf("the fire alarm cleared: %s", a.Message)
		}
	}
	if testing.Verbose() {
		for _, a := range out {
			t.Log(strings.TrimSpace(rules.TimelineLine(&a, false, start)))
		}
	}
	if pre.IsZero() || smokeAt.IsZero() || !pre.Before(smokeAt) || fire.Sub(smokeAt) > time.Second || fire.Before(smokeAt) {
		var b strings.Builder
		for _, a := range out {
			b.WriteString(rules.TimelineLine(&a, false, start))
		}
		t.Fatalf("pre-runaway %v, smoke %v, fire alarm %v:\n%s", pre, smokeAt, fire, b.String())
	}
}
