package megatec

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/megatec/megatecsim"
)

// ups is a test's controllable value source.
type ups struct {
	mu   sync.Mutex
	vals map[reading.Channel]float64
}

func (u *ups) set(ch reading.Channel, v float64) {
	u.mu.Lock()
	u.vals[ch] = v
	u.mu.Unlock()
}

func (u *ups) value(ch reading.Channel, _ time.Duration) (float64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.vals[ch]
	return v, ok
}

func newUPS() *ups {
	return &ups{vals: map[reading.Channel]float64{
		reading.InputVoltage: 231.5, reading.OutputVoltage: 229.8, reading.Load: 42, reading.BatteryVoltage: 54.2,
		reading.BatteryTemp: 26.5,
	}}
}

// logCounter counts warnings, to check that each kind of bad reply is logged once.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var errText string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				errText = a.Value.String()
			}
			return true
		})
		l.mu.Lock()
		l.msgs = append(l.msgs, errText)
		l.mu.Unlock()
	}
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

type rig struct {
	ups *ups
	emu *megatecsim.Emulator
	dev *Device
	log *logCounter
}

// newRig serves an emulated UPS on a pty and opens its slave end through the real serial-port code.
func newRig(t *testing.T, cfg megatecsim.Config, o Options) *rig {
	t.Helper()
	p, err := megatecsim.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	u := newUPS()
	cfg.Source = u.value
	emu := megatecsim.New(cfg)
	done := make(chan struct{})
	go func() { emu.Serve(p.Master); close(done) }()
	if o.Baud == 0 {
		def := defaults()
		def.BatteryCells, def.BatteryVoltageLow, def.BatteryVoltageHigh = o.BatteryCells, o.BatteryVoltageLow, o.BatteryVoltageHigh
		def.RuntimeFullLoad, def.RuntimeHalfLoad = o.RuntimeFullLoad, o.RuntimeHalfLoad
		if o.Retries != 0 {
			def.Retries = o.Retries
		}
		o = def
	}
	o.Device = p.Path
	lc := &logCounter{}
	d := New(&o, slog.New(lc), func() (Port, error) { return OpenSerial(p.Path, o.Baud) })
	t.Cleanup(func() {
		d.Close()
		p.Close()
		<-done
	})
	return &rig{ups: u, emu: emu, dev: d, log: lc}
}

func (r *rig) read(t *testing.T) (map[reading.Channel]driver.Sample, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := r.dev.Read(ctx, nil)
	m := map[reading.Channel]driver.Sample{}
	for _, s := range out {
		m[s.Channel] = s
	}
	return m, err
}

func wantValues(t *testing.T, got map[reading.Channel]driver.Sample, want map[reading.Channel]float64) {
	t.Helper()
	for ch, v := range want {
		s, ok := got[ch]
		switch {
		case !ok:
			t.Errorf("%s: no sample", ch)
		case s.Err != nil:
			t.Errorf("%s: bad: %v", ch, s.Err)
		case math.Abs(s.Value-v) > 1e-9:
			t.Errorf("%s = %g, want %g", ch, s.Value, v)
		}
	}
}

func TestPTYStandbyUnit(t *testing.T) {
	r := newRig(t, megatecsim.Config{}, Options{})
	got, err := r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 {
		t.Errorf("%d channels, want 11 (no runtime without calibration, no replace_battery)", len(got))
	}
	// F says 48 V nominal: 0 % at 41.6 V, 100 % at 52 V; 54.2 V on float charge is full.
	wantValues(t, got, map[reading.Channel]float64{
		reading.SelfTest: 0, reading.OnBattery: 0, reading.LowBattery: 0, reading.Charge: 100, reading.BatteryVoltage: 54.2,
		reading.BatteryTemp: 26.5, reading.InputVoltage: 231.5, reading.OutputVoltage: 229.8, reading.Load: 42,
		reading.Overload: 0, reading.Fault: 0,
	})
	// The 10-second battery test (T): the test bit, b2, says so while the UPS is on battery.
	r.ups.set(reading.SelfTest, 1)
	r.ups.set(reading.OnBattery, 1)
	got, err = r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.SelfTest: 1, reading.OnBattery: 1})
	r.ups.set(reading.SelfTest, 0)
	// Mains fail, the battery sags, the UPS flags low battery, then overload and a failure.
	r.ups.set(reading.OnBattery, 1)
	r.ups.set(reading.InputVoltage, 0)
	r.ups.set(reading.BatteryVoltage, 44.2)
	r.ups.set(reading.LowBattery, 1)
	r.ups.set(reading.Load, 104)
	r.ups.set(reading.Fault, 1)
	got, err = r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{
		reading.OnBattery: 1, reading.LowBattery: 1, reading.Charge: 25, reading.BatteryVoltage: 44.2,
		reading.InputVoltage: 0, reading.Load: 104, reading.Overload: 1, reading.Fault: 1,
	})
	if c := r.emu.Commands(); c["F"] != 1 || c["I"] != 1 || c["Q1"] != 3 {
		t.Errorf("commands %v: F and I once, Q1 per poll", c)
	}
	if s := r.dev.Stats(); s != (Stats{}) {
		t.Errorf("rejections %+v on a clean line", s)
	}
}

func TestPTYOnlineUnitPerCell(t *testing.T) {
	r := newRig(t, megatecsim.Config{PerCell: true, BatteryNominal: 48},
		Options{RuntimeFullLoad: settings.Duration(5 * time.Minute), RuntimeHalfLoad: settings.Duration(15 * time.Minute)})
	r.ups.set(reading.BatteryVoltage, 48.0) // 2.00 V per cell on 24 cells
	r.ups.set(reading.Load, 50)
	got, err := r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	// charge = (48 − 41.6)/(52 − 41.6) = 61.5 %; runtime at half load = 0.615 × 15 min = 553.8 s.
	wantValues(t, got, map[reading.Channel]float64{reading.BatteryVoltage: 48, reading.Charge: 61.5, reading.Runtime: 554})
}

func TestPTYExplicitRangeAndCells(t *testing.T) {
	r := newRig(t, megatecsim.Config{PerCell: true, BatteryNominal: 24},
		Options{BatteryCells: 12, BatteryVoltageLow: 21, BatteryVoltageHigh: 27})
	r.ups.set(reading.BatteryVoltage, 25.2) // 2.10 V per cell
	got, err := r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.BatteryVoltage: 25.2, reading.Charge: 70})
}

// Garbage, a line cut off by the timeout, glued lines and an echo are each rejected, counted and logged
// once; the poll is retried and still yields the UPS's values.
func TestPTYGarbageAndPartialLines(t *testing.T) {
	r := newRig(t, megatecsim.Config{}, Options{Retries: 3})
	if _, err := r.read(t); err != nil { // F and I settled
		t.Fatal(err)
	}
	r.emu.Inject([]byte("\x00\xff\x13noise\r"))           // malformed
	r.emu.Inject([]byte("Q1\r"))                          // echo
	r.emu.Inject([]byte("(230.0 230.0 230.0 010 50.0\r")) // short
	got, err := r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.InputVoltage: 231.5, reading.Load: 42})
	if s := r.dev.Stats(); s != (Stats{Malformed: 1, Echo: 1, Short: 1}) {
		t.Errorf("stats %+v", s)
	}

	// A reply cut off without its CR (the rest lost on the line).
	r.emu.Truncate(20)
	got, err = r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.OutputVoltage: 229.8})
	// A partial line glued to the front of the next reply.
	r.emu.Inject([]byte("(230.0 23"))
	got, err = r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.BatteryTemp: 26.5})
	if s := r.dev.Stats(); s != (Stats{Short: 2, Malformed: 2, Echo: 1}) {
		t.Errorf("stats %+v, want 2 short, 2 malformed, 1 echo", s)
	}
	r.log.mu.Lock()
	msgs := append([]string(nil), r.log.msgs...)
	r.log.mu.Unlock()
	if len(msgs) != 3 {
		t.Errorf("logged %d warnings %q, want one per kind (3)", len(msgs), msgs)
	}
}

func TestPTYSilentUPS(t *testing.T) {
	r := newRig(t, megatecsim.Config{}, Options{Retries: 1})
	if _, err := r.read(t); err != nil {
		t.Fatal(err)
	}
	r.emu.Mute(2)
	if _, err := r.read(t); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if s := r.dev.Stats(); s.Timeout != 2 {
		t.Errorf("stats %+v, want 2 timeouts", s)
	}
	got, err := r.read(t)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.InputVoltage: 231.5})
}

func TestPTYCancel(t *testing.T) {
	r := newRig(t, megatecsim.Config{}, Options{})
	r.emu.Mute(100)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.dev.Read(ctx, nil)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Read ignored its context")
	}
}

func TestPTYUnsupportedFieldAndNoRating(t *testing.T) {
	p, err := megatecsim.OpenPTY()
	if err != nil {
		t.Skip(err)
	}
	defer p.Close()
	// A bare-bones responder: Q1 with the temperature unavailable, F and I unknown (echoed).
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := p.Master.Read(buf)
			if err != nil {
				return
			}
			switch cmd := strings.TrimSpace(string(buf[:n])); cmd {
			case "Q1":
				p.Master.Write([]byte("(230.0 230.0 230.0 010 50.0 27.2 @@.@ 00001001\r"))
			default:
				p.Master.Write([]byte(cmd + "\r"))
			}
		}
	}()
	o := defaults()
	o.Device = p.Path
	d := New(&o, slog.New(slog.DiscardHandler), func() (Port, error) { return OpenSerial(p.Path, 2400) })
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := d.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out {
		switch s.Channel {
		case reading.BatteryTemp:
			if s.Err == nil || !strings.Contains(s.Err.Error(), "does not report its temperature") {
				t.Errorf("battery_temp: %v", s.Err)
			}
		case reading.Charge:
			if s.Err == nil || !strings.Contains(s.Err.Error(), "battery_voltage_low") {
				t.Errorf("charge: %v", s.Err)
			}
		case reading.BatteryVoltage:
			if s.Err != nil || s.Value != 27.2 {
				t.Errorf("battery_voltage %g %v", s.Value, s.Err)
			}
		}
	}
	if s := d.Stats(); s.Echo != 2 {
		t.Errorf("stats %+v, want the F and I echoes counted", s)
	}
}

func checkYAML(t *testing.T, sensor string) ([]driver.ChannelInfo, error) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n  - "+sensor+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return check(cfg.Sensors[0].DriverSensor(cfg.File))
}

func TestCheck(t *testing.T) {
	chs, err := checkYAML(t, `{id: ups3, driver: megatec, device: /dev/ttyUSB0, runtime_full_load: 4m, runtime_half_load: 12m}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 12 || chs[0].Channel != reading.SelfTest || chs[4].Channel != reading.Runtime || chs[4].Unit != "s" {
		t.Errorf("channels %v", chs)
	}
	for _, tc := range []struct{ sensor, err string }{
		{`{id: u, driver: megatec}`, "t.yaml:4: megatec: device is required"},
		{`{id: u, driver: megatec, device: /d, baud: 2401}`, "baud 2401"},
		{`{id: u, driver: megatec, device: /d, battery_voltage_low: 20}`, "go together"},
		{`{id: u, driver: megatec, device: /d, battery_voltage_low: 28, battery_voltage_high: 27}`, "must be below"},
		{`{id: u, driver: megatec, device: /d, runtime_full_load: 4m}`, "go together"},
		{`{id: u, driver: megatec, device: /d, runtime_full_load: 4m, runtime_half_load: 3m}`, "must be longer"},
		{`{id: u, driver: megatec, device: /d, reply_timeout: 10ms}`, "reply_timeout"},
		{`{id: u, driver: megatec, device: /d, parity: even}`, "parity"},
	} {
		_, err := checkYAML(t, tc.sensor)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.sensor, err, tc.err)
		}
	}
}

// BenchmarkRead measures one Q1 poll over a pty against the emulator (the serial line's own speed is not
// emulated: a pty delivers at once).
func BenchmarkRead(b *testing.B) {
	p, err := megatecsim.OpenPTY()
	if err != nil {
		b.Skip(err)
	}
	defer p.Close()
	emu := megatecsim.New(megatecsim.Config{})
	go emu.Serve(p.Master)
	o := defaults()
	o.Device = p.Path
	d := New(&o, slog.New(slog.DiscardHandler), func() (Port, error) { return OpenSerial(p.Path, 2400) })
	defer d.Close()
	ctx := context.Background()
	out := make([]driver.Sample, 0, 16)
	if out, err = d.Read(ctx, out[:0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err = d.Read(ctx, out[:0])
		if err != nil || len(out) != 11 {
			b.Fatal(err, len(out))
		}
	}
}

// brokenPort fails every read, as an unplugged USB-serial adapter does.
type brokenPort struct{}

func (brokenPort) Read([]byte) (int, error) {
	return 0, errors.New("read /dev/ttyUSB0: input/output error")
}
func (brokenPort) Write(b []byte) (int, error) { return len(b), nil }
func (brokenPort) Close() error                { return nil }

// A failing port makes a bad poll naming the failure, is closed, and is opened again on the next poll.
func TestPortFailureReopens(t *testing.T) {
	p, err := megatecsim.OpenPTY()
	if err != nil {
		t.Skip(err)
	}
	defer p.Close()
	go megatecsim.New(megatecsim.Config{}).Serve(p.Master)
	opens := 0
	o := defaults()
	o.Device = p.Path
	d := New(&o, slog.New(slog.DiscardHandler), func() (Port, error) {
		opens++
		if opens == 1 {
			return brokenPort{}, nil
		}
		return OpenSerial(p.Path, 2400)
	})
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := d.Read(ctx, nil); !errors.Is(err, ErrPort) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("err %v, want ErrPort with the cause", err)
	}
	out, err := d.Read(ctx, nil)
	if err != nil || len(out) != 11 {
		t.Fatalf("after reopening: %v, %d samples", err, len(out))
	}
	if opens != 2 {
		t.Errorf("%d opens, want 2", opens)
	}
}
