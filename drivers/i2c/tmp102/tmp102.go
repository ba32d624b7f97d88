package tmp102

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses by ADD0: GND 0x48, V+ 0x49, SDA 0x4A, SCL 0x4B.
var Addresses = []uint16{0x48, 0x49, 0x4A, 0x4B}

// Temperature converts the temperature register to °C.
func Temperature(hi, lo byte) float64 {
	w := int16(uint16(hi)<<8 | uint16(lo))
	if lo&1 != 0 { // extended mode: 13 bits
		return float64(w>>3) / 16
	}
	return float64(w>>4) / 16
}

type chip struct {
	i2cbus.Scratch
	b [2]byte
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	if err := d.Tx(c.W(0x01), c.b[:]); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if c.b[0]&0x60 != 0x60 {
		return fmt.Errorf("%w: config register 0x%02x%02x has R1/R0 = %02b; a TMP102 always reads 11 (an ADS1115 at this address?)", i2cbus.ErrWrongChip, c.b[0], c.b[1], c.b[0]>>5&3)
	}
	if c.b[0]&0x01 != 0 { // SD: shutdown mode, no conversions
		if err := d.Tx(c.W(0x01, c.b[0]&^0x01, c.b[1]), nil); err != nil {
			return fmt.Errorf("leave shutdown: %w", err)
		}
	}
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := d.Tx(c.W(0x00), c.b[:]); err != nil {
		return out, fmt.Errorf("read temperature: %w", err)
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: Temperature(c.b[0], c.b[1])}), nil
}

// Spec describes the tmp102 driver.
var Spec = i2cbus.Spec{
	Name: "tmp102", Chip: "TMP102", Addresses: Addresses,
	Channels: []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.0625)}, // 12-bit: 1/16 °C
	New:      func() i2cbus.Chip { return &chip{} },
}

// Register adds the tmp102 driver.
func Register(r *driver.Registry) { r.Add(Spec.Driver()) }
