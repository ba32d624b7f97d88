package hdc302x

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses by ADDR/ADDR1 strapping; 0x44 is the default.
var Addresses = []uint16{0x44, 0x45, 0x46, 0x47}

// ManufacturerID is Texas Instruments' id.
const ManufacturerID = 0x3000

// Convert turns raw counts to °C and %RH.
func Convert(t, rh uint16) (float64, float64) {
	return -45 + 175*float64(t)/65535, 100 * float64(rh) / 65535
}

type chip struct {
	i2cbus.Scratch
	b [6]byte
	w [2]uint16
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	if err := d.Tx(c.W(0x37, 0x81), c.b[:3]); err != nil {
		return fmt.Errorf("read manufacturer id: %w", err)
	}
	if err := i2cbus.Words(c.b[:3], c.w[:1]); err != nil {
		return fmt.Errorf("%w: manufacturer id: %v", i2cbus.ErrWrongChip, err)
	}
	if c.w[0] != ManufacturerID {
		return fmt.Errorf("%w: manufacturer id 0x%04x, an HDC302x reads 0x3000 (an SHT4x at 0x44?)", i2cbus.ErrWrongChip, c.w[0])
	}
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := d.Tx(c.W(0x24, 0x00), nil); err != nil {
		return out, fmt.Errorf("trigger: %w", err)
	}
	// LPM0 converts in about 12.5 ms; the chip NACKs a read until it is done.
	if err := i2cbus.Sleep(ctx, 15*time.Millisecond); err != nil {
		return out, err
	}
	err := d.Tx(nil, c.b[:])
	if err != nil {
		if err := i2cbus.Sleep(ctx, 10*time.Millisecond); err != nil {
			return out, err
		}
		if err = d.Tx(nil, c.b[:]); err != nil {
			return out, fmt.Errorf("read: %w", err)
		}
	}
	if err := i2cbus.Words(c.b[:], c.w[:]); err != nil {
		return out, err
	}
	t, rh := Convert(c.w[0], c.w[1])
	out = append(out, driver.Sample{Channel: reading.Temperature, Value: t}, driver.Sample{Channel: reading.Humidity, Value: rh})
	if dp := i2cbus.DewPoint(t, rh); dp == dp {
		return append(out, driver.Sample{Channel: reading.DewPoint, Value: dp}), nil
	}
	return append(out, driver.Sample{Channel: reading.DewPoint, Err: fmt.Errorf("hdc302x: dew point undefined at 0 %%RH")}), nil
}

// Spec describes the hdc302x driver.
var Spec = i2cbus.Spec{
	Name: "hdc302x", Chip: "HDC302x", Addresses: Addresses,
	Channels: []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.01), driver.Channel(reading.Humidity, 0.01),
		driver.Channel(reading.DewPoint, 0.01)}, // 16-bit results: 0.01 °C, 0.01 %RH
	New: func() i2cbus.Chip { return &chip{} },
}

// Register adds the hdc302x driver.
func Register(r *driver.Registry) { r.Add(Spec.Driver()) }
