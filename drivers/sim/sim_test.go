package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

func firstTime(t *testing.T, sc *Scenario, ch reading.Channel, cond func(float64) bool) time.Duration {
	t.Helper()
	for ts := time.Duration(0); ts <= sc.Duration(); ts += time.Second {
		if v, _ := sc.Clean(ch, ts); cond(v) {
			return ts
		}
	}
	t.Fatalf("%s never reached the condition in %s", ch, sc.Name())
	return 0
}

func TestBatteryRunawayOrderOfEvents(t *testing.T) {
	sc, err := Lookup("battery-runaway")
	if err != nil {
		t.Fatal(err)
	}
	// Off-gas comes before smoke, and the cell is already heating when it does (domain reference §6).
	heat := firstTime(t, sc, reading.BatteryTemp, func(v float64) bool { return v > 27 })
	voc := firstTime(t, sc, reading.VOC, func(v float64) bool { return v > 500 })
	h2 := firstTime(t, sc, reading.H2, func(v float64) bool { return v > 10 })
	smoke := firstTime(t, sc, reading.Smoke, func(v float64) bool { return v == 1 })
	onBatt := firstTime(t, sc, reading.OnBattery, func(v float64) bool { return v == 1 })
	if !(heat < voc && voc < h2 && h2 < smoke && smoke < onBatt) {
		t.Errorf("order of events: heat %v, voc %v, h2 %v, smoke %v, on battery %v", heat, voc, h2, smoke, onBatt)
	}
	// The rise accelerates: each minute from 3 to 8 warms more than the one before.
	prev := 0.0
	for m := 3; m <= 8; m++ {
		a, _ := sc.Clean(reading.BatteryTemp, time.Duration(m-1)*time.Minute)
		b, _ := sc.Clean(reading.BatteryTemp, time.Duration(m)*time.Minute)
		if b-a <= prev {
			t.Errorf("minute %d warmed %.2f °C, not more than the minute before (%.2f)", m, b-a, prev)
		}
		prev = b - a
	}
}

func TestHotAisleLeavesASHRAERecommendedRange(t *testing.T) {
	sc, _ := Lookup("hot-aisle")
	at := firstTime(t, sc, reading.Temperature, func(v float64) bool { return v > 27 })
	if at < 3*time.Minute || at > 7*time.Minute {
		t.Errorf("inlet crosses 27 °C at %v; the story wants it mid-way", at)
	}
	if v, _ := sc.Clean(reading.Temperature, 0); v > 27 || v < 18 {
		t.Errorf("starts at %.1f °C, outside the recommended 18–27 °C", v)
	}
}

func TestNoiseIsDeterministicAndSmall(t *testing.T) {
	sc, _ := Lookup("steady")
	var differs bool
	for ts := time.Duration(0); ts < time.Minute; ts += 700 * time.Millisecond {
		a, _ := sc.Value(reading.Temperature, ts)
		b, _ := sc.Value(reading.Temperature, ts)
		c, _ := sc.ValueSeed(reading.Temperature, ts, 7)
		if a != b {
			t.Fatalf("same time, two values: %v %v", a, b)
		}
		if a < 22.3 || a > 22.7 {
			t.Errorf("noise too large: %v", a)
		}
		differs = differs || a != c
	}
	if !differs {
		t.Error("two seeds gave identical noise")
	}
	if v, _ := sc.Value(reading.Smoke, time.Minute); v != 0 {
		t.Errorf("a boolean got noise: %v", v)
	}
}

// fakeClock lets a test run a ten-minute scenario without waiting.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestDeviceTimeScale(t *testing.T) {
	sc, _ := Lookup("battery-runaway")
	clk := &fakeClock{t: time.Unix(1000, 0)}
	d := NewDevice(sc, []reading.Channel{reading.Smoke, reading.BatteryTemp}, &Options{TimeScale: 600, Seed: 1}, clk.now)
	out, err := d.Read(context.Background(), nil)
	if err != nil || len(out) != 2 || out[0].Value != 0 {
		t.Fatalf("at start: %v %v", out, err)
	}
	clk.t = clk.t.Add(time.Second) // 600 × 1 s = the whole 10-minute story
	out, _ = d.Read(context.Background(), out[:0])
	if out[0].Value != 1 {
		t.Errorf("smoke after 10 scenario minutes = %v, want 1", out[0].Value)
	}
	if out[1].Value < 80 {
		t.Errorf("battery at the end of the runaway = %.1f °C", out[1].Value)
	}
}

func TestDeviceFailures(t *testing.T) {
	sc, _ := Lookup("steady")
	clk := &fakeClock{t: time.Unix(0, 0)}
	o := &Options{TimeScale: 1, Fail: &Failure{After: settings.Duration(time.Minute), For: settings.Duration(time.Minute), Mode: "error"}}
	d := NewDevice(sc, []reading.Channel{reading.Temperature}, o, clk.now)
	if _, err := d.Read(context.Background(), nil); err != nil {
		t.Fatalf("failed before its time: %v", err)
	}
	clk.t = clk.t.Add(90 * time.Second)
	if _, err := d.Read(context.Background(), nil); !errors.Is(err, ErrSimulated) {
		t.Fatalf("want simulated fault, got %v", err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := d.Read(context.Background(), nil); err != nil {
		t.Fatalf("did not recover: %v", err)
	}

	o.Fail.Mode = "hang"
	d = NewDevice(sc, []reading.Channel{reading.Temperature}, o, clk.now)
	clk.t = clk.t.Add(90 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Read(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("hang did not end with the context: %v", err)
	}
}

func checkSensor(t *testing.T, yaml string) ([]driver.ChannelInfo, error) {
	t.Helper()
	cfg, err := config.Parse("sim.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:0}\nsensors:\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	r := driver.NewRegistry()
	Register(r)
	return r.Driver("sim").Check(cfg.Sensors[0].DriverSensor(cfg.File))
}

func TestCheckOptions(t *testing.T) {
	chs, err := checkSensor(t, "  - {id: a, driver: sim, scenario: steady, channels: [temperature, smoke]}\n")
	if err != nil || len(chs) != 2 || chs[0].Unit != "°C" {
		t.Fatalf("good sensor: %v %v", chs, err)
	}
	for yaml, want := range map[string]string{
		"  - {id: a, driver: sim}\n":                                       "sim.yaml:4: sensor \"a\": sim needs a scenario",
		"  - {id: a, driver: sim, scenario: fire}\n":                       "unknown scenario \"fire\"",
		"  - {id: a, driver: sim, scenario: steady, channels: [colour]}\n": "has no channel \"colour\"",
		"  - {id: a, driver: sim, scenario: steady, time_scale: -1}\n":     "time_scale must be above 0",
		"  - {id: a, driver: sim, scenario: steady, speed: 2}\n":           "sim.yaml:4: unknown key \"speed\"",
		"  - {id: a, driver: sim, scenario: steady, fail: {mode: melt}}\n": "fail.mode \"melt\"",
		"  - {id: a, driver: sim, scenario: steady, time_scale: fast}\n":   "time_scale: expected a number",
	} {
		_, err := checkSensor(t, yaml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", strings.TrimSpace(yaml), err, want)
		}
	}
}
