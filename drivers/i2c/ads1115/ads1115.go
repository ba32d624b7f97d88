package ads1115

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses by ADDR pin: GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B.
var Addresses = []uint16{0x48, 0x49, 0x4A, 0x4B}

// Options are the sensor keys of an ads1115.
type Options struct {
	Address uint16      `yaml:"address"`
	Mux     *i2cbus.Mux `yaml:"mux"`
	// Rate is the data rate in samples per second: 8, 16, 32, 64, 128 (default), 250, 475 or 860.
	// Slower rates average more mains hum away.
	Rate   int     `yaml:"rate"`
	Inputs []Input `yaml:"inputs"`
}

// Input is one measured input and how it maps to a channel.
type Input struct {
	// Channel is the reading's channel name (h2, smoke_level, loop_current, ...).
	Channel string `yaml:"channel"`
	// Input is a0..a3 (against ground) or a differential pair: a0-a1, a0-a3, a1-a3, a2-a3.
	Input string `yaml:"input"`
	// Range is the full-scale range in volts: 6.144, 4.096 (default), 2.048, 1.024, 0.512 or 0.256.
	// Never apply more than VDD + 0.3 V to any input, whatever the range.
	Range float64 `yaml:"range"`
	// Unit is the unit of the calibrated value (default V without calibration).
	Unit string `yaml:"unit"`
	// Calibration is two points, each {volts: measured input voltage, value: what it means}; the value is
	// interpolated (and extrapolated) on the line through them.
	Calibration []Point `yaml:"calibration"`
}

// Point is one calibration point.
type Point struct {
	Volts float64 `yaml:"volts"`
	Value float64 `yaml:"value"`
}

var muxCodes = map[string]uint16{
	"a0-a1": 0, "a0-a3": 1, "a1-a3": 2, "a2-a3": 3, "a0": 4, "a1": 5, "a2": 6, "a3": 7,
}

var ranges = []float64{6.144, 4.096, 2.048, 1.024, 0.512, 0.256}

var rates = []int{8, 16, 32, 64, 128, 250, 475, 860}

type input struct {
	ch     reading.Channel
	config uint16 // config register value that starts this input's conversion
	fsr    float64
	slope  float64
	offset float64
}

func parse(s *driver.Sensor) (Options, i2cbus.Addr, []input, []driver.ChannelInfo, error) {
	o := Options{Rate: 128}
	if err := s.Options.Decode(&o); err != nil {
		return o, i2cbus.Addr{}, nil, nil, err
	}
	a := i2cbus.Addr{Address: o.Address, Mux: o.Mux}
	if err := a.Check(s, "ADS1115", Addresses); err != nil {
		return o, a, nil, nil, err
	}
	dr := slices.Index(rates, o.Rate)
	if dr < 0 {
		return o, a, nil, nil, settings.Errorf(s.Options, "rate", "sensor %q: rate %d is not one of 8, 16, 32, 64, 128, 250, 475, 860", s.ID, o.Rate)
	}
	if len(o.Inputs) == 0 {
		return o, a, nil, nil, settings.Errorf(s.Options, "inputs", "sensor %q: inputs is required: list each input with its channel, e.g. {channel: h2, input: a0, unit: ppm, calibration: [...]}", s.ID)
	}
	var ins []input
	var chs []driver.ChannelInfo
	seen := map[string]bool{}
	for i, in := range o.Inputs {
		bad := func(format string, args ...any) error {
			return settings.Errorf(s.Options, "inputs", "sensor %q: inputs[%d]: %s", s.ID, i, fmt.Sprintf(format, args...))
		}
		if !reading.ValidID(in.Channel) {
			return o, a, nil, nil, bad("channel %q must be set and use only a-z 0-9 . _ -", in.Channel)
		}
		if seen[in.Channel] {
			return o, a, nil, nil, bad("channel %q is listed twice", in.Channel)
		}
		seen[in.Channel] = true
		m, ok := muxCodes[strings.ToLower(in.Input)]
		if !ok {
			return o, a, nil, nil, bad("input %q is not a0-a3 or a0-a1, a0-a3, a1-a3, a2-a3", in.Input)
		}
		if in.Range == 0 {
			in.Range = 4.096
		}
		pga := slices.Index(ranges, in.Range)
		if pga < 0 {
			return o, a, nil, nil, bad("range %v is not one of 6.144, 4.096, 2.048, 1.024, 0.512, 0.256 (volts)", in.Range)
		}
		x := input{
			ch:     reading.Channel(in.Channel),
			config: 1<<15 | m<<12 | uint16(pga)<<9 | 1<<8 | uint16(dr)<<5 | 0x3,
			fsr:    in.Range,
			slope:  1,
		}
		unit := in.Unit
		switch len(in.Calibration) {
		case 0:
			if unit == "" {
				unit = "V"
			}
		case 2:
			p, q := in.Calibration[0], in.Calibration[1]
			if p.Volts == q.Volts {
				return o, a, nil, nil, bad("the two calibration points have the same voltage %v", p.Volts)
			}
			x.slope = (q.Value - p.Value) / (q.Volts - p.Volts)
			x.offset = p.Value - x.slope*p.Volts
			if unit == "" {
				return o, a, nil, nil, bad("unit is required with a calibration (what the calibrated value is in: ppm, mA, %%LEL, ...)")
			}
		default:
			return o, a, nil, nil, bad("calibration needs exactly two points, got %d", len(in.Calibration))
		}
		ins = append(ins, x)
		// One count is fsr/32768 volts, times the calibration's slope.
		chs = append(chs, driver.ChannelInfo{Channel: x.ch, Unit: unit, Resolution: reading.ResolutionOf(x.fsr / 32768 * x.slope)})
	}
	return o, a, ins, chs, nil
}

type chip struct {
	i2cbus.Scratch
	ins  []input
	conv time.Duration
	b    [2]byte
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	// No id register: reading the config register at least proves something answers at the address.
	if err := d.Tx(c.W(0x01), c.b[:]); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return nil
}

// Volts converts a conversion result to volts for a full-scale range.
func Volts(code int16, fsr float64) float64 { return float64(code) * fsr / 32768 }

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	for _, in := range c.ins {
		if err := d.Tx(c.W(0x01, byte(in.config>>8), byte(in.config)), nil); err != nil {
			return out, fmt.Errorf("start %s: %w", in.ch, err)
		}
		if err := i2cbus.Sleep(ctx, c.conv); err != nil {
			return out, err
		}
		done := false
		for i := 0; i < 5 && !done; i++ {
			if err := d.Tx(c.W(0x01), c.b[:]); err != nil {
				return out, fmt.Errorf("poll %s: %w", in.ch, err)
			}
			if done = c.b[0]&0x80 != 0; !done {
				if err := i2cbus.Sleep(ctx, c.conv/4+time.Millisecond); err != nil {
					return out, err
				}
			}
		}
		if !done {
			return out, fmt.Errorf("%s: conversion did not finish", in.ch)
		}
		if err := d.Tx(c.W(0x00), c.b[:]); err != nil {
			return out, fmt.Errorf("read %s: %w", in.ch, err)
		}
		code := int16(uint16(c.b[0])<<8 | uint16(c.b[1]))
		if code == 0x7FFF || code == -0x8000 {
			out = append(out, driver.Sample{Channel: in.ch, Err: fmt.Errorf("ads1115: %s: %w: input at full scale (beyond ±%v V): use a larger range or a divider", in.ch, i2cbus.ErrInvalid, in.fsr)})
			continue
		}
		out = append(out, driver.Sample{Channel: in.ch, Value: in.offset + in.slope*Volts(code, in.fsr)})
	}
	return out, nil
}

// Register adds the ads1115 driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{
		Name:  "ads1115",
		Buses: []string{i2cbus.TypeName},
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			_, _, _, chs, err := parse(s)
			return chs, err
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, a, ins, _, err := parse(env.Sensor)
			if err != nil {
				return nil, err
			}
			// One conversion takes 1/rate; 10% covers the oscillator's tolerance.
			conv := time.Second * 11 / time.Duration(10*o.Rate)
			return i2cbus.Open(ctx, env, "ads1115", a, &chip{ins: ins, conv: conv})
		},
	})
}
