package gpio

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func sensor(t testing.TB, yaml string) *driver.Sensor {
	t.Helper()
	doc := "gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nsensors:\n  - " + yaml + "\n"
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Sensors[0].DriverSensor(cfg.File)
}

// harness runs a gpio-input on a fake pin and collects what it emits. The pin is in memory, so the tests
// that use it run in a synctest bubble: debounce windows and refresh intervals pass on the bubble's clock,
// and the bounce below lands inside its window however busy the machine is.
type harness struct {
	pin     *gpiotest.Pin
	samples chan driver.Sample
	cancel  context.CancelFunc
	done    chan error
}

func start(t testing.TB, yaml string) *harness {
	t.Helper()
	h := &harness{
		pin:     &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan pgpio.Level)},
		samples: make(chan driver.Sample, 64),
		done:    make(chan error, 1),
	}
	d := Driver(func(name string) pgpio.PinIO {
		if name == "GPIO17" {
			return h.pin
		}
		return nil
	})
	s := sensor(t, yaml)
	if _, err := d.Check(s); err != nil {
		t.Fatal(err)
	}
	dev, err := d.Open(context.Background(), driver.Env{Sensor: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- dev.(driver.Streamer).Run(ctx, func(s driver.Sample) { h.samples <- s }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) next(t testing.TB) driver.Sample {
	t.Helper()
	select {
	case s := <-h.samples:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no sample")
	}
	return driver.Sample{}
}

func (h *harness) edge(l pgpio.Level) { h.pin.EdgesChan <- l }

func TestActiveLowSmokeContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, "{id: batt-room.smoke, driver: gpio-input, pin: GPIO17, active: low, channel: smoke, debounce: 0s, every: 1h}")
		if h.pin.P != pgpio.PullUp {
			t.Errorf("pull %v, want up by default for active low", h.pin.P)
		}
		if s := h.next(t); s.Channel != "smoke" || s.Value != 0 {
			t.Fatalf("initial sample %+v, want smoke=0 (pulled up, contact open)", s)
		}
		h.edge(pgpio.Low)
		if s := h.next(t); s.Value != 1 {
			t.Fatalf("after falling edge %+v, want smoke=1", s)
		}
		h.edge(pgpio.High)
		if s := h.next(t); s.Value != 0 {
			t.Fatalf("after rising edge %+v, want smoke=0", s)
		}
	})
}

func TestActiveHighDefaultsToPullDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, "{id: door1, driver: gpio-input, pin: GPIO17, active: high, channel: door, every: 1h}")
		if h.pin.P != pgpio.PullDown {
			t.Errorf("pull %v, want down", h.pin.P)
		}
		if s := h.next(t); s.Value != 0 {
			t.Fatalf("initial %+v", s)
		}
		h.edge(pgpio.High)
		if s := h.next(t); s.Channel != "door" || s.Value != 1 {
			t.Fatalf("after rising edge %+v, want door=1", s)
		}
	})
}

func TestDebounceSwallowsBounceAndSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, "{id: leak1, driver: gpio-input, pin: GPIO17, channel: leak, debounce: 500ms, every: 1h}")
		if s := h.next(t); s.Value != 0 {
			t.Fatalf("initial %+v", s)
		}
		// Contact closes and bounces: the first edge is emitted at once, the bounce is not.
		h.edge(pgpio.Low)
		if s := h.next(t); s.Value != 1 {
			t.Fatalf("first edge %+v, want 1", s)
		}
		h.edge(pgpio.High)
		h.edge(pgpio.Low)
		h.edge(pgpio.High)
		// It came to rest open: whatever the timing, the next value is 0, and there is no extra 1 before it.
		if s := h.next(t); s.Value != 0 {
			t.Fatalf("after bounce %+v, want 0 (settled open)", s)
		}
		h.edge(pgpio.Low)
		if s := h.next(t); s.Value != 1 {
			t.Fatalf("next closure %+v, want 1", s)
		}
	})
}

func TestPeriodicLevelForStaleness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, "{id: door2, driver: gpio-input, pin: GPIO17, channel: door, every: 20ms}")
		for i := 0; i < 3; i++ {
			if s := h.next(t); s.Value != 0 {
				t.Fatalf("sample %d %+v", i, s)
			}
		}
		// A level that changed without an edge being seen (missed interrupt) is corrected by the refresh.
		h.pin.Lock()
		h.pin.L = pgpio.Low
		h.pin.Unlock()
		for {
			if s := h.next(t); s.Value == 1 {
				break
			}
		}
	})
}

func TestCheckErrors(t *testing.T) {
	d := Driver(func(string) pgpio.PinIO { return nil })
	for yaml, want := range map[string]string{
		"{id: a, driver: gpio-input, pin: GPIO17}":                               "channel is required",
		"{id: a, driver: gpio-input, channel: smoke}":                            "pin is required",
		"{id: a, driver: gpio-input, pin: GPIO17, channel: smoke, active: yes}":  "active must be low or high",
		"{id: a, driver: gpio-input, pin: GPIO17, channel: smoke, pull: strong}": "pull must be",
		"{id: a, driver: gpio-input, pin: GPIO17, channel: smoke, debounce: 50}": "no unit",
		"{id: a, driver: gpio-input, pin: GPIO17, channel: smoke, edge: both}":   "unknown key",
		"{id: a, driver: gpio-input, pin: GPIO17, channel: Smoke/Room}":          "may only use",
	} {
		_, err := d.Check(sensor(t, yaml))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "test.yaml:4") {
			t.Errorf("%s: got %v, want %q at test.yaml:4", yaml, err, want)
		}
	}
	_, err := d.Open(context.Background(), driver.Env{Sensor: sensor(t, "{id: a, driver: gpio-input, pin: GPIO99, channel: smoke}")})
	if err == nil || !strings.Contains(err.Error(), "GPIO99") {
		t.Errorf("missing pin: %v", err)
	}
}

// BenchmarkEdgeToSample measures the driver's share of the event path: a falling edge delivered by the
// pin until the sample reaches emit. It excludes the kernel's interrupt delivery and everything after emit.
func BenchmarkEdgeToSample(b *testing.B) {
	h := start(b, "{id: s, driver: gpio-input, pin: GPIO17, channel: smoke, debounce: 0s, every: 1h}")
	h.next(b)
	var mu sync.Mutex
	var lat []time.Duration
	level := pgpio.Low
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		h.edge(level)
		h.next(b)
		mu.Lock()
		lat = append(lat, time.Since(t0))
		mu.Unlock()
		level = !level
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// brokenPin's edge wait fails at once, like a gpioioctl line whose file descriptor went away.
type brokenPin struct{ *gpiotest.Pin }

func (p *brokenPin) WaitForEdge(time.Duration) bool { return false }

func TestBrokenLineReturnsErrorInsteadOfSpinning(t *testing.T) {
	pin := &brokenPin{&gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan pgpio.Level)}}
	d := Driver(func(string) pgpio.PinIO { return pin })
	dev, err := d.Open(context.Background(), driver.Env{Sensor: sensor(t, "{id: s, driver: gpio-input, pin: GPIO17, channel: smoke}")})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = dev.(driver.Streamer).Run(context.Background(), func(driver.Sample) { n++ })
	if err == nil || !strings.Contains(err.Error(), "unusable") || n != 1 {
		t.Errorf("Run returned %v after %d samples; want an error after the initial level", err, n)
	}
}
