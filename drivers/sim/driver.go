package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Options are the `sim` driver's config keys.
type Options struct {
	// Scenario names the story to play (steady, hot-aisle, battery-runaway).
	Scenario string `yaml:"scenario"`
	// TimeScale runs scenario time faster than wall time: 10 plays a 10-minute story in one minute.
	TimeScale float64 `yaml:"time_scale"`
	// Channels limits the sensor to some of the scenario's channels (all when empty).
	Channels []string `yaml:"channels"`
	// Seed varies the noise between sensors playing the same scenario.
	Seed uint64 `yaml:"seed"`
	// Role is which sensor of the scenario's room this one plays (default: its id), e.g. string2 in
	// battery-runaway is a sibling of the failing string1.
	Role string `yaml:"role"`
	// StartAt starts the story this far in (scenario time).
	StartAt settings.Duration `yaml:"start_at"`
	// Loop restarts the story at its end instead of holding the last values.
	Loop bool `yaml:"loop"`
	// Fail makes the device fail, to see and test bad readings and staleness alarms.
	Fail *Failure `yaml:"fail"`
}

// Failure describes a simulated device fault.
type Failure struct {
	// After is when (wall time since start) the fault begins.
	After settings.Duration `yaml:"after"`
	// For is how long it lasts; 0 means for good.
	For settings.Duration `yaml:"for"`
	// Mode is "error" (the read fails at once), "hang" (the read blocks until cancelled) or "panic".
	Mode string `yaml:"mode"`
}

func decode(s *driver.Sensor) (*Options, *Scenario, []reading.Channel, error) {
	o := &Options{TimeScale: 1, Seed: 1}
	if err := s.Options.Decode(o); err != nil {
		return nil, nil, nil, err
	}
	if o.Role == "" {
		o.Role = s.ID
	}
	if o.Scenario == "" {
		return nil, nil, nil, settings.Errorf(s.Options, "scenario", "sensor %q: sim needs a scenario (%v)", s.ID, Names())
	}
	sc, err := Lookup(o.Scenario)
	if err != nil {
		return nil, nil, nil, settings.Errorf(s.Options, "scenario", "sensor %q: %v", s.ID, err)
	}
	if o.TimeScale <= 0 || o.TimeScale > 10000 {
		return nil, nil, nil, settings.Errorf(s.Options, "time_scale", "sensor %q: time_scale must be above 0 and at most 10000", s.ID)
	}
	chs := sc.Channels()
	if len(o.Channels) > 0 {
		chs = make([]reading.Channel, 0, len(o.Channels))
		for _, c := range o.Channels {
			if !sc.Has(reading.Channel(c)) {
				return nil, nil, nil, settings.Errorf(s.Options, "channels", "sensor %q: scenario %s has no channel %q (it has %v)", s.ID, sc.Name(), c, sc.Channels())
			}
			chs = append(chs, reading.Channel(c))
		}
	}
	if f := o.Fail; f != nil {
		switch f.Mode {
		case "error", "hang", "panic":
		default:
			return nil, nil, nil, settings.Errorf(s.Options, "fail", "sensor %q: fail.mode %q: use error, hang or panic", s.ID, f.Mode)
		}
	}
	return o, sc, chs, nil
}

// resolutions are those of the devices the simulated sensors stand for, where they differ from the
// unit's default: a BMS's and a room sensor's tenths of a degree, an electrochemical H2 cell's tenths of
// a ppm, a UPS's battery voltage in hundredths.
var resolutions = map[reading.Channel]float64{reading.H2: 0.1, reading.BatteryVoltage: 0.01, reading.InputVoltage: 0.1,
	reading.OutputVoltage: 0.1}

// Register adds the `sim` driver and the `sim` output type.
func Register(r *driver.Registry) {
	r.AddOutput(OutputType())
	r.Add(driver.Driver{
		Name: "sim",
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			_, _, chs, err := decode(s)
			if err != nil {
				return nil, err
			}
			infos := driver.Channels(chs...)
			for i := range infos {
				if r, ok := resolutions[infos[i].Channel]; ok {
					infos[i].Resolution = r
				}
			}
			return infos, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, sc, chs, err := decode(env.Sensor)
			if err != nil {
				return nil, err
			}
			return NewDevice(sc, chs, o, time.Now), nil
		},
	})
}

// Open builds the simulated device a configured sensor describes, on the given clock (tests drive a
// scenario on a clock of their own).
func Open(s *driver.Sensor, now func() time.Time) (*Device, error) {
	o, sc, chs, err := decode(s)
	if err != nil {
		return nil, err
	}
	return NewDevice(sc, chs, o, now), nil
}

// Device is one simulated sensor.
type Device struct {
	sc       *Scenario
	chs      []reading.Channel
	opt      Options
	now      func() time.Time
	start    time.Time
	failFrom time.Duration
	failTo   time.Duration
}

// NewDevice plays sc on the given channels; now is the clock (time.Now outside tests).
func NewDevice(sc *Scenario, chs []reading.Channel, o *Options, now func() time.Time) *Device {
	d := &Device{sc: sc, chs: chs, opt: *o, now: now, start: now()}
	if f := o.Fail; f != nil {
		d.failFrom = f.After.D()
		d.failTo = -1
		if f.For > 0 {
			d.failTo = d.failFrom + f.For.D()
		}
	}
	return d
}

// ErrSimulated is the error of a simulated fault.
var ErrSimulated = errors.New("sim: simulated device fault")

// ScenarioTime is the scenario time the device shows at wall time now.
func (d *Device) ScenarioTime(now time.Time) time.Duration {
	t := d.opt.StartAt.D() + time.Duration(float64(now.Sub(d.start))*d.opt.TimeScale)
	if d.opt.Loop && d.sc.Duration() > 0 {
		t %= d.sc.Duration()
	}
	return t
}

// Read implements driver.Poller.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	now := d.now()
	if f := d.opt.Fail; f != nil {
		el := now.Sub(d.start)
		if el >= d.failFrom && (d.failTo < 0 || el < d.failTo) {
			switch f.Mode {
			case "hang":
				<-ctx.Done()
				return out, fmt.Errorf("sim: device not answering: %w", ctx.Err())
			case "panic":
				panic("sim: simulated driver panic")
			default:
				return out, ErrSimulated
			}
		}
	}
	t := d.ScenarioTime(now)
	for _, ch := range d.chs {
		v, _ := d.sc.ValueFor(d.opt.Role, ch, t, d.opt.Seed)
		out = append(out, driver.Sample{Channel: ch, Value: v})
	}
	return out, nil
}

// Close implements driver.Device.
func (d *Device) Close() error { return nil }

var _ driver.Poller = (*Device)(nil)
