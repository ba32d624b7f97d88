package scd4x

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

// Addresses: the SCD40 and SCD41 have one fixed address.
var Addresses = []uint16{0x62}

// Period is the SCD4x's measurement interval in periodic mode.
const Period = 5 * time.Second

type chip struct {
	i2cbus.Scratch
	b     [9]byte
	w     [3]uint16
	last  [3]uint16
	lastT time.Time
	now   func() time.Time
}

func (c *chip) cmd(ctx context.Context, d *i2c.Dev, code uint16, words int) error {
	if err := d.Tx(c.W(byte(code>>8), byte(code)), nil); err != nil {
		return fmt.Errorf("command 0x%04x: %w", code, err)
	}
	if words == 0 {
		return nil
	}
	if err := i2cbus.Sleep(ctx, time.Millisecond); err != nil {
		return err
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
	c.lastT = time.Time{}
	// A sensor left in periodic mode (agent restart) ignores other commands until stopped.
	if err := c.cmd(ctx, d, 0x3F86, 0); err != nil {
		return err
	}
	if err := i2cbus.Sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	if err := c.cmd(ctx, d, 0x3682, 3); err != nil {
		return fmt.Errorf("%w: serial number: %v", i2cbus.ErrWrongChip, err)
	}
	return c.cmd(ctx, d, 0x21B1, 0)
}

// Convert turns a read_measurement's words into ppm, °C and %RH.
func Convert(w [3]uint16) (co2, t, rh float64) {
	return float64(w[0]), -45 + 175*float64(w[1])/65535, 100 * float64(w[2]) / 65535
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := c.cmd(ctx, d, 0xE4B8, 1); err != nil {
		return out, err
	}
	now := c.now()
	if c.w[0]&0x07FF == 0 {
		if c.lastT.IsZero() || now.Sub(c.lastT) > 2*Period {
			return out, fmt.Errorf("%w: no measurement yet (the SCD4x delivers one every 5 s, the first 5 s after start)", i2cbus.ErrNotReady)
		}
		return appendValues(out, c.last), nil
	}
	if err := c.cmd(ctx, d, 0xEC05, 3); err != nil {
		return out, err
	}
	copy(c.last[:], c.w[:])
	c.lastT = now
	return appendValues(out, c.last), nil
}

func appendValues(out []driver.Sample, w [3]uint16) []driver.Sample {
	co2, t, rh := Convert(w)
	out = append(out,
		driver.Sample{Channel: reading.CO2, Value: co2},
		driver.Sample{Channel: reading.Temperature, Value: t},
		driver.Sample{Channel: reading.Humidity, Value: rh})
	if dp := i2cbus.DewPoint(t, rh); dp == dp {
		return append(out, driver.Sample{Channel: reading.DewPoint, Value: dp})
	}
	return append(out, driver.Sample{Channel: reading.DewPoint, Err: fmt.Errorf("scd4x: dew point undefined at 0 %%RH")})
}

func newDriver(now func() time.Time) driver.Driver {
	d := i2cbus.Spec{
		Name: "scd4x", Chip: "SCD4x", Addresses: Addresses,
		Channels: []driver.ChannelInfo{driver.Channel(reading.CO2, 1), driver.Channel(reading.Temperature, 0.01),
			driver.Channel(reading.Humidity, 0.01), driver.Channel(reading.DewPoint, 0.01)},
		New: func() i2cbus.Chip { return &chip{now: now} },
	}.Driver()
	check := d.Check
	d.Check = func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
		chs, err := check(s)
		if err == nil && s.Every < Period {
			err = settings.Errors{{File: s.Options.File(), Line: s.Options.Line(), Msg: fmt.Sprintf("sensor %q: every %s is shorter than the SCD4x's 5s measurement period; use every: 5s or more", s.ID, s.Every)}}
		}
		return chs, err
	}
	return d
}

// Register adds the scd4x driver.
func Register(r *driver.Registry) { r.Add(newDriver(time.Now)) }
