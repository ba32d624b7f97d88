package mcp9808

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses: 0x18 with A2..A0 low, up to 0x1F.
var Addresses = []uint16{0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F}

const (
	regConfig     = 0x01
	regTemp       = 0x05
	regManufID    = 0x06
	regDeviceID   = 0x07
	regResolution = 0x08

	ManufacturerID = 0x0054
	DeviceID       = 0x04
	// At 0.0625 °C resolution a conversion takes 250 ms (datasheet, tCONV).
	convTime = 250 * time.Millisecond
)

// Temperature converts the T_A register to °C: 13-bit two's complement in 1/16 °C; the top three bits
// are the alert flags (datasheet 5.1.3).
func Temperature(ta uint16) float64 {
	raw := int16(ta<<3) >> 3
	return float64(raw) / 16
}

type chip struct {
	i2cbus.Scratch
	b [2]byte
}

func (c *chip) read16(d *i2c.Dev, reg byte) (uint16, error) {
	if err := d.Tx(c.W(reg), c.b[:]); err != nil {
		return 0, fmt.Errorf("read register 0x%02x: %w", reg, err)
	}
	return uint16(c.b[0])<<8 | uint16(c.b[1]), nil
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	m, err := c.read16(d, regManufID)
	if err != nil {
		return err
	}
	id, err := c.read16(d, regDeviceID)
	if err != nil {
		return err
	}
	if m != ManufacturerID || id>>8 != DeviceID {
		return fmt.Errorf("%w: manufacturer id 0x%04x, device id 0x%02x; an MCP9808 reads 0x0054 and 0x04", i2cbus.ErrWrongChip, m, id>>8)
	}
	cfg, err := c.read16(d, regConfig)
	if err != nil {
		return err
	}
	if err := d.Tx(c.W(regResolution, 0x03), nil); err != nil {
		return fmt.Errorf("write resolution: %w", err)
	}
	if cfg&0x0100 == 0 {
		return nil
	}
	// In shutdown (SHDN, bit 8): start continuous conversion. The first result is ready one conversion
	// time later.
	if err := d.Tx(c.W(regConfig, byte(cfg>>8)&^0x01, byte(cfg)), nil); err != nil {
		return fmt.Errorf("leave shutdown: %w", err)
	}
	return i2cbus.Sleep(ctx, convTime)
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	ta, err := c.read16(d, regTemp)
	if err != nil {
		return out, err
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: Temperature(ta)}), nil
}

// Spec describes the mcp9808 driver.
var Spec = i2cbus.Spec{
	Name: "mcp9808", Chip: "MCP9808", Addresses: Addresses,
	Channels: []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.0625)}, // resolution at power-up
	New:      func() i2cbus.Chip { return &chip{} },
}

// Register adds the mcp9808 driver.
func Register(r *driver.Registry) { r.Add(Spec.Driver()) }
