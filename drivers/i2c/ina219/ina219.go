package ina219

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses by A1/A0 strapping, 0x40 with both to GND.
var Addresses = []uint16{0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F}

// Options are the sensor keys of an ina219.
type Options struct {
	Address uint16      `yaml:"address"`
	Mux     *i2cbus.Mux `yaml:"mux"`
	// Shunt is the shunt resistance in ohms (default 0.1, the common breakout boards' R100). For an
	// external 75 mV / 100 A shunt write 0.00075.
	Shunt float64 `yaml:"shunt"`
}

const configValue = 0x399F

// Decode converts the shunt and bus voltage registers into volts, amps and watts.
func Decode(shuntReg, busReg uint16, shunt float64) (v, i, p float64, err error) {
	if busReg&1 != 0 {
		return 0, 0, 0, fmt.Errorf("%w: math overflow flag set: the shunt voltage is beyond ±320 mV (current beyond %.3g A for a %g Ω shunt)", i2cbus.ErrInvalid, 0.32/shunt, shunt)
	}
	v = float64(busReg>>3) * 0.004
	i = float64(int16(shuntReg)) * 10e-6 / shunt
	return v, i, v * i, nil
}

type chip struct {
	i2cbus.Scratch
	shunt float64
	b     [2]byte
}

func (c *chip) read(d *i2c.Dev, reg byte) (uint16, error) {
	if err := d.Tx(c.W(reg), c.b[:]); err != nil {
		return 0, fmt.Errorf("read register 0x%02x: %w", reg, err)
	}
	return uint16(c.b[0])<<8 | uint16(c.b[1]), nil
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	if err := d.Tx(c.W(0x00, configValue>>8, configValue&0xFF), nil); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	got, err := c.read(d, 0x00)
	if err != nil {
		return err
	}
	if got != configValue {
		return fmt.Errorf("%w: configuration register reads back 0x%04x after writing 0x%04x", i2cbus.ErrWrongChip, got, configValue)
	}
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	sh, err := c.read(d, 0x01)
	if err != nil {
		return out, err
	}
	bus, err := c.read(d, 0x02)
	if err != nil {
		return out, err
	}
	out = append(out, driver.Sample{Channel: reading.Voltage, Value: float64(bus>>3) * 0.004})
	_, i, p, err := Decode(sh, bus, c.shunt)
	if err != nil {
		err = fmt.Errorf("ina219: %w", err)
		return append(out, driver.Sample{Channel: reading.Current, Err: err}, driver.Sample{Channel: reading.Power, Err: err}), nil
	}
	return append(out, driver.Sample{Channel: reading.Current, Value: i}, driver.Sample{Channel: reading.Power, Value: p}), nil
}

func parse(s *driver.Sensor) (Options, i2cbus.Addr, error) {
	o := Options{Shunt: 0.1}
	if err := s.Options.Decode(&o); err != nil {
		return o, i2cbus.Addr{}, err
	}
	a := i2cbus.Addr{Address: o.Address, Mux: o.Mux}
	if err := a.Check(s, "INA219", Addresses); err != nil {
		return o, a, err
	}
	if o.Shunt <= 0 || o.Shunt > 10 {
		return o, a, settings.Errorf(s.Options, "shunt", "sensor %q: shunt %v Ω is not a shunt resistance (e.g. 0.1, or 0.00075 for 75 mV / 100 A)", s.ID, o.Shunt)
	}
	return o, a, nil
}

// Register adds the ina219 driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{
		Name:  "ina219",
		Buses: []string{i2cbus.TypeName},
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			o, _, err := parse(s)
			if err != nil {
				return nil, err
			}
			// Bus voltage counts 4 mV; the shunt 10 µV, so the current's step depends on the shunt.
			amps := reading.ResolutionOf(10e-6 / o.Shunt)
			return []driver.ChannelInfo{driver.Channel(reading.Voltage, 0.004), driver.Channel(reading.Current, amps),
				driver.Channel(reading.Power, reading.ResolutionOf(amps*10))}, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, a, err := parse(env.Sensor)
			if err != nil {
				return nil, err
			}
			return i2cbus.Open(ctx, env, "ina219", a, &chip{shunt: o.Shunt})
		},
	})
}
