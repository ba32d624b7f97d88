package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// fake is a test device whose behaviour each read is chosen by a function of the read number.
type fake struct {
	mu     sync.Mutex
	n      int
	behave func(n int, ctx context.Context) (float64, error)
	closed atomic.Int32
}

func (f *fake) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	v, err := f.behave(n, ctx)
	if err != nil {
		return out, err
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: v}), nil
}

func (f *fake) Close() error { f.closed.Add(1); return nil }

type stream struct {
	run func(ctx context.Context, emit func(driver.Sample)) error
}

func (s *stream) Run(ctx context.Context, emit func(driver.Sample)) error { return s.run(ctx, emit) }
func (s *stream) Close() error                                            { return nil }

// harness builds a config and registry in which each sensor's driver is its id's entry in devs.
type harness struct {
	logTo  io.Writer // the scheduler's log; discarded when nil
	reg    *driver.Registry
	opens  sync.Map // sensor id -> *atomic.Int32
	openFn map[string]func(n int) (driver.Device, error)
	sched  *Scheduler // the last one run
}

func newHarness() *harness {
	h := &harness{reg: driver.NewRegistry(), openFn: map[string]func(int) (driver.Device, error){}}
	h.reg.Add(driver.Driver{
		Name: "fake", Buses: []string{"wire"}, BusOptional: true,
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			return driver.Channels(reading.Temperature), nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			c, _ := h.opens.LoadOrStore(env.Sensor.ID, new(atomic.Int32))
			n := c.(*atomic.Int32).Add(1)
			return h.openFn[env.Sensor.ID](int(n))
		},
	})
	h.reg.AddBus(driver.BusType{Name: "wire", Open: func(ctx context.Context, b *driver.Bus, log *slog.Logger) (any, error) {
		if strings.HasPrefix(b.ID, "broken") {
			return nil, errors.New("no such device")
		}
		return b.ID, nil
	}})
	return h
}

func (h *harness) opened(id string) int32 {
	c, ok := h.opens.Load(id)
	if !ok {
		return 0
	}
	return c.(*atomic.Int32).Load()
}

// run runs a scheduler over the sensors in yaml until a reading satisfies until, and returns the readings.
// The devices are in memory, so every test calls it inside a synctest bubble: read timeouts, intervals and
// backoffs pass on the bubble's clock, exactly, however busy the machine is (on a loaded machine a 10 ms
// timeout on the real clock also catches reads that merely waited for a CPU).
func (h *harness) run(t *testing.T, yaml string, until func(r reading.Reading) bool) []reading.Reading {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:0}\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	chans := map[string][]driver.ChannelInfo{}
	for _, s := range cfg.Sensors {
		chans[s.ID] = driver.Channels(reading.Temperature)
	}
	var buses []*driver.Bus
	for _, b := range cfg.Buses {
		buses = append(buses, b.DriverBus(cfg.File))
	}
	logTo := h.logTo
	if logTo == nil {
		logTo = io.Discard
	}
	s := New(configtest.Sensors(cfg), buses, chans, h.reg, slog.New(slog.NewTextHandler(logTo, nil)))
	h.sched = s
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan reading.Reading, 16)
	done := make(chan struct{})
	go func() { s.Run(ctx, out); close(done) }()
	var got []reading.Reading
	deadline := time.After(20 * time.Second) // a failure timeout, not a measurement
	for {
		select {
		case r := <-out:
			got = append(got, r)
			if until(r) {
				cancel()
				for {
					select {
					case <-out:
					case <-done:
						return got
					}
				}
			}
		case <-deadline:
			cancel()
			t.Fatalf("gave up waiting; received %d readings: %v", len(got), summary(got))
		}
	}
}

func summary(rs []reading.Reading) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 30 {
			b.WriteString("…")
			break
		}
		fmt.Fprintf(&b, "%s/%s=%v(%s) ", r.Sensor, r.Quality, r.Value, r.ErrText())
	}
	return b.String()
}

func count(rs []reading.Reading, sensor string, q reading.Quality, errHas string) int {
	n := 0
	for _, r := range rs {
		if r.Sensor == sensor && r.Quality == q && strings.Contains(r.ErrText(), errHas) {
			n++
		}
	}
	return n
}

func TestHungDeviceDelaysNoOtherBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		release := make(chan struct{})
		defer close(release)
		// On bus a: "hung" never returns, not even when cancelled (a driver stuck in a syscall); "neighbour"
		// shares its wire. On bus b: "ok" is healthy.
		h.openFn["hung"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { <-release; return 0, nil }}, nil
		}
		h.openFn["neighbour"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { return 1, nil }}, nil
		}
		h.openFn["ok"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { return float64(n), nil }}, nil
		}
		good := 0
		got := h.run(t, `
buses:
  - {id: a, type: wire}
  - {id: b, type: wire}
sensors:
  - {id: hung, driver: fake, bus: a, every: 40ms, timeout: 30ms}
  - {id: neighbour, driver: fake, bus: a, every: 40ms, timeout: 30ms}
  - {id: ok, driver: fake, bus: b, every: 10ms, timeout: 10ms}
`, func(r reading.Reading) bool {
			if r.Sensor == "ok" && r.Good() {
				good++
			}
			return good >= 30
		})
		if n := count(got, "hung", reading.Bad, "read timed out after 30ms"); n != 1 {
			t.Errorf("hung sensor: %d timeout readings, want exactly 1 (then the bus is busy): %s", n, summary(got))
		}
		if n := count(got, "neighbour", reading.Bad, "bus a busy: read of hung has not returned"); n < 1 {
			t.Errorf("the hung sensor's neighbour on bus a was not reported bad: %s", summary(got))
		}
		if n := count(got, "hung", reading.Bad, "bus a busy"); n < 1 {
			t.Errorf("the hung sensor itself gets no bad readings after its timeout: %s", summary(got))
		}
		// Bus b's readings are consecutive: none was skipped while bus a hung.
		want := 1.0
		for _, r := range got {
			if r.Sensor == "ok" && r.Good() {
				if r.Value != want {
					t.Fatalf("bus b read %v, want read number %v: reads were lost", r.Value, want)
				}
				want++
			}
		}
	})
}

func TestTimeoutThenRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["slow"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) {
				if n == 2 { // honours its context: returns when the scheduler gives up
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return float64(n), nil
			}}, nil
		}
		got := h.run(t, "sensors:\n  - {id: slow, driver: fake, every: 10ms, timeout: 10ms}\n", func(r reading.Reading) bool {
			return r.Good() && r.Value >= 4
		})
		if n := count(got, "slow", reading.Bad, "read timed out after 10ms"); n != 1 {
			t.Errorf("want one timeout reading: %s", summary(got))
		}
	})
}

// TestOpenThatOutlivesItsTimeout: an open that hangs past its timeout is reported as a timeout; when it
// finally returns (an error, on the worker), its result is its own and the device is opened again. Under
// -race this failed when the late open wrote the error the scheduler had already set to a timeout.
func TestOpenThatOutlivesItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		release := make(chan struct{})
		h.openFn["late"] = func(open int) (driver.Device, error) {
			if open == 1 {
				<-release // ignores its context, as a stuck driver would
				return nil, errors.New("gave up")
			}
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { return 5, nil }}, nil
		}
		// Released on the clock, not by the test seeing the timeout: that would order the two writes.
		go func() { time.Sleep(time.Second); close(release) }()
		timedOut := false
		got := h.run(t, "sensors:\n  - {id: late, driver: fake, every: 10ms, timeout: 10ms}\n", func(r reading.Reading) bool {
			if !r.Good() && strings.Contains(r.Err.Error(), "while opening") {
				timedOut = true
			}
			return r.Good()
		})
		if !timedOut {
			t.Errorf("the hung open was not reported as a timeout: %s", summary(got))
		}
	})
}

func TestPanicIsRecoveredAndDeviceReopened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["p"] = func(open int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) {
				if open == 1 && n == 2 {
					panic("index out of range")
				}
				return float64(open*100 + n), nil
			}}, nil
		}
		got := h.run(t, "sensors:\n  - {id: p, driver: fake, every: 10ms}\n", func(r reading.Reading) bool {
			return r.Good() && r.Value > 200
		})
		if n := count(got, "p", reading.Bad, "driver panicked: index out of range"); n != 1 {
			t.Errorf("want one bad reading for the panic: %s", summary(got))
		}
		if h.opened("p") != 2 {
			t.Errorf("device opened %d times, want 2 (reopened after the panic)", h.opened("p"))
		}
	})
}

func TestOpenFailureIsBadReadingThenRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["flaky"] = func(open int) (driver.Device, error) {
			if open == 1 {
				return nil, errors.New("chip id 0x58, want 0x60 (BMP280 instead of BME280?)")
			}
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { return 7, nil }}, nil
		}
		got := h.run(t, "sensors:\n  - {id: flaky, driver: fake, every: 100ms}\n", func(r reading.Reading) bool { return r.Good() })
		if n := count(got, "flaky", reading.Bad, "open: chip id 0x58"); n < 1 {
			t.Errorf("the open error is not in a bad reading: %s", summary(got))
		}
	})
}

func TestBrokenBusIsReportedPerSensor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["s1"] = func(int) (driver.Device, error) { return nil, errors.New("unreachable") }
		s1, s2 := false, 0
		h.openFn["s2"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { return 1, nil }}, nil
		}
		got := h.run(t, `
buses:
  - {id: broken1, type: wire}
  - {id: fine, type: wire}
sensors:
  - {id: s1, driver: fake, bus: broken1, every: 10ms}
  - {id: s2, driver: fake, bus: fine, every: 10ms}
`, func(r reading.Reading) bool {
			s1 = s1 || r.Sensor == "s1" && strings.Contains(r.ErrText(), "bus broken1: no such device")
			s2 += count([]reading.Reading{r}, "s2", reading.Good, "")
			return s1 && s2 >= 5 // s2 keeps its schedule while s1's bus stays broken
		})
		_ = got
		if h.opened("s1") != 0 {
			t.Error("opened a device on a bus that is not open")
		}
	})
}

func TestStreamerPushesAndIsRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		h.openFn["edge"] = func(open int) (driver.Device, error) {
			return &stream{run: func(ctx context.Context, emit func(driver.Sample)) error {
				emit(driver.Sample{Channel: reading.Smoke, Value: float64(open)})
				if open == 1 {
					return errors.New("line went away")
				}
				<-ctx.Done()
				return ctx.Err()
			}}, nil
		}
		got := h.run(t, "sensors:\n  - {id: edge, driver: fake, every: 1h}\n", func(r reading.Reading) bool {
			return r.Good() && r.Value == 2
		})
		if n := count(got, "edge", reading.Bad, "line went away"); n < 1 {
			t.Errorf("the streamer's failure was not reported: %s", summary(got))
		}
		if got[0].Channel != reading.Smoke || got[0].Value != 1 {
			t.Errorf("first reading %+v, want the pushed sample", got[0])
		}
	})
}

// A driver that hands over NaN or an infinity (a float32 register holding NaN, a NUT variable reading
// "inf") yields a bad reading saying so, polled or pushed: such a value never reaches the rules as good.
func TestNonFiniteValuesBecomeBadReadings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		values := []float64{21, math.NaN(), math.Inf(1), math.Inf(-1), 22}
		h.openFn["poll"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) {
				return values[(n-1)%len(values)], nil
			}}, nil
		}
		h.openFn["push"] = func(int) (driver.Device, error) {
			return &stream{run: func(ctx context.Context, emit func(driver.Sample)) error {
				for _, v := range values {
					emit(driver.Sample{Channel: reading.Smoke, Value: v})
				}
				<-ctx.Done()
				return ctx.Err()
			}}, nil
		}
		var polled, pushed []reading.Reading
		h.run(t, "sensors:\n  - {id: poll, driver: fake, every: 10ms}\n  - {id: push, driver: fake, every: 1h}\n",
			func(r reading.Reading) bool {
				if r.Sensor == "poll" {
					polled = append(polled, r)
				} else {
					pushed = append(pushed, r)
				}
				return len(polled) >= len(values) && len(pushed) >= len(values)
			})
		for _, rs := range [][]reading.Reading{polled[:len(values)], pushed[:len(values)]} {
			for i, r := range rs {
				finite := !math.IsNaN(values[i]) && !math.IsInf(values[i], 0)
				if r.Good() != finite || !reading.Finite(r.Value) {
					t.Errorf("%s reading %d of %v: %+v", r.Sensor, i, values[i], r)
				}
				if !finite && !errors.Is(r.Err, reading.ErrNotFinite) {
					t.Errorf("%s: a non-finite value must say why it is bad: %v", r.Sensor, r.Err)
				}
			}
		}
	})
}

// A device that fails and recovers every second (a loose connector) logs one line a minute (the next one
// says how many were not written), instead of two lines a second.
func TestFlappingSensorDoesNotFloodTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness()
		var log strings.Builder
		h.logTo = &log
		h.openFn["loose"] = func(int) (driver.Device, error) {
			return &fake{behave: func(n int, ctx context.Context) (float64, error) { panic("connector") }}, nil
		}
		start := time.Now()
		h.run(t, "sensors:\n  - {id: loose, driver: fake, every: 100ms}\n", func(r reading.Reading) bool {
			return time.Since(start) > 15*time.Second
		})
		if lines := strings.Count(log.String(), "\n"); lines != 1 {
			t.Fatalf("%d log lines in 15 s of a device failing every second, want 1:\n%s", lines, log.String())
		}
	})
}
