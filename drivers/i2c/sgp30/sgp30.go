package sgp30

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Channels beyond the well-known ones.
const (
	ECO2       reading.Channel = "eco2"
	H2Raw      reading.Channel = "h2_raw"
	EthanolRaw reading.Channel = "ethanol_raw"
)

// Addresses: the SGP30 has one fixed address.
var Addresses = []uint16{0x58}

// WarmUp is how long after iaq_init the chip returns fixed values.
const WarmUp = 15 * time.Second

// Options are the sensor keys of an sgp30.
type Options struct {
	Address uint16      `yaml:"address"`
	Mux     *i2cbus.Mux `yaml:"mux"`
	// Raw adds the h2_raw and ethanol_raw channels (signal ticks; a falling H2 signal means more H2).
	Raw bool `yaml:"raw"`
}

type chip struct {
	i2cbus.Scratch
	raw    bool
	b      [6]byte
	w      [2]uint16
	initAt time.Time
	now    func() time.Time
}

func (c *chip) cmd(ctx context.Context, d *i2c.Dev, code uint16, wait time.Duration, words int) error {
	if err := d.Tx(c.W(byte(code>>8), byte(code)), nil); err != nil {
		return fmt.Errorf("command 0x%04x: %w", code, err)
	}
	if err := i2cbus.Sleep(ctx, wait); err != nil {
		return err
	}
	if words == 0 {
		return nil
	}
	if err := d.Tx(nil, c.b[:3*words]); err != nil {
		return fmt.Errorf("command 0x%04x: read: %w", code, err)
	}
	if err := i2cbus.Words(c.b[:3*words], c.w[:words]); err != nil {
		return fmt.Errorf("command 0x%04x: %w", code, err)
	}
	return nil
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	if err := c.cmd(ctx, d, 0x202F, 10*time.Millisecond, 1); err != nil {
		return err
	}
	if typ := c.w[0] >> 12; typ != 0 {
		return fmt.Errorf("%w: feature set 0x%04x has product type %d; an SGP30 has 0", i2cbus.ErrWrongChip, c.w[0], typ)
	}
	if err := c.cmd(ctx, d, 0x2003, 10*time.Millisecond, 0); err != nil {
		return err
	}
	c.initAt = c.now()
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := c.cmd(ctx, d, 0x2008, 12*time.Millisecond, 2); err != nil {
		return out, err
	}
	eco2, tvoc := float64(c.w[0]), float64(c.w[1])
	if c.now().Sub(c.initAt) < WarmUp {
		err := fmt.Errorf("%w: warming up (the SGP30 returns fixed values for 15 s after initialisation)", i2cbus.ErrNotReady)
		out = append(out, driver.Sample{Channel: reading.VOC, Err: err}, driver.Sample{Channel: ECO2, Err: err})
	} else {
		out = append(out, driver.Sample{Channel: reading.VOC, Value: tvoc}, driver.Sample{Channel: ECO2, Value: eco2})
	}
	if c.raw {
		if err := c.cmd(ctx, d, 0x2050, 25*time.Millisecond, 2); err != nil {
			err = fmt.Errorf("sgp30: raw signals: %w", err)
			return append(out, driver.Sample{Channel: H2Raw, Err: err}, driver.Sample{Channel: EthanolRaw, Err: err}), nil
		}
		out = append(out, driver.Sample{Channel: H2Raw, Value: float64(c.w[0])}, driver.Sample{Channel: EthanolRaw, Value: float64(c.w[1])})
	}
	return out, nil
}

func decode(s *driver.Sensor) (Options, i2cbus.Addr, error) {
	o := Options{}
	if err := s.Options.Decode(&o); err != nil {
		return o, i2cbus.Addr{}, err
	}
	a := i2cbus.Addr{Address: o.Address, Mux: o.Mux}
	if err := a.Check(s, "SGP30", Addresses); err != nil {
		return o, a, err
	}
	if s.Every != time.Second {
		return o, a, settings.Errors{{File: s.Options.File(), Line: s.Options.Line(), Msg: fmt.Sprintf("sensor %q: an SGP30 must be read every second for its baseline compensation; set every: 1s (it is %s)", s.ID, s.Every)}}
	}
	return o, a, nil
}

func newDriver(now func() time.Time) driver.Driver {
	return driver.Driver{
		Name:  "sgp30",
		Buses: []string{i2cbus.TypeName},
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			o, _, err := decode(s)
			if err != nil {
				return nil, err
			}
			chs := []driver.ChannelInfo{{Channel: reading.VOC, Unit: "ppb", Resolution: 1}, {Channel: ECO2, Unit: "ppm", Resolution: 1}}
			if o.Raw {
				chs = append(chs, driver.ChannelInfo{Channel: H2Raw, Unit: "ticks", Resolution: 1}, driver.ChannelInfo{Channel: EthanolRaw, Unit: "ticks", Resolution: 1})
			}
			return chs, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, a, err := decode(env.Sensor)
			if err != nil {
				return nil, err
			}
			return i2cbus.Open(ctx, env, "sgp30", a, &chip{raw: o.Raw, now: now})
		},
	}
}

// Register adds the sgp30 driver.
func Register(r *driver.Registry) { r.Add(newDriver(time.Now)) }
