package aht20

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Decode converts the 7-byte measurement to °C and %RH, checking busy, calibration and CRC.
func Decode(b []byte) (t, rh float64, err error) {
	if len(b) != 7 {
		return 0, 0, fmt.Errorf("short measurement: %d bytes", len(b))
	}
	if c := i2cbus.CRC8(b[:6]); c != b[6] {
		return 0, 0, fmt.Errorf("%w: got 0x%02x, computed 0x%02x", i2cbus.ErrCRC, b[6], c)
	}
	if b[0]&0x80 != 0 {
		return 0, 0, fmt.Errorf("measurement not finished (status 0x%02x)", b[0])
	}
	h := uint32(b[1])<<12 | uint32(b[2])<<4 | uint32(b[3])>>4
	tr := uint32(b[3]&0x0F)<<16 | uint32(b[4])<<8 | uint32(b[5])
	return float64(tr)/(1<<20)*200 - 50, float64(h) / (1 << 20) * 100, nil
}

type chip struct {
	i2cbus.Scratch
	b [7]byte
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	// Power-on to ready is 40 ms at most; a chip that has been up longer answers at once.
	if err := d.Tx(c.W(0x71), c.b[:1]); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if c.b[0]&0x08 != 0 {
		return nil
	}
	if err := d.Tx(c.W(0xBE, 0x08, 0x00), nil); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if err := i2cbus.Sleep(ctx, 10*time.Millisecond); err != nil {
		return err
	}
	if err := d.Tx(c.W(0x71), c.b[:1]); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if c.b[0]&0x08 == 0 {
		return fmt.Errorf("%w: status 0x%02x: calibration bit stays clear after initialisation", i2cbus.ErrWrongChip, c.b[0])
	}
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := d.Tx(c.W(0xAC, 0x33, 0x00), nil); err != nil {
		return out, fmt.Errorf("trigger: %w", err)
	}
	if err := i2cbus.Sleep(ctx, 80*time.Millisecond); err != nil {
		return out, err
	}
	var err error
	for i := 0; i < 3; i++ {
		if err = d.Tx(nil, c.b[:]); err != nil {
			return out, fmt.Errorf("read: %w", err)
		}
		if c.b[0]&0x80 == 0 {
			break
		}
		if err = i2cbus.Sleep(ctx, 10*time.Millisecond); err != nil {
			return out, err
		}
	}
	t, rh, err := Decode(c.b[:])
	if err != nil {
		return out, err
	}
	return appendTRH(out, t, rh), nil
}

func appendTRH(out []driver.Sample, t, rh float64) []driver.Sample {
	out = append(out, driver.Sample{Channel: reading.Temperature, Value: t}, driver.Sample{Channel: reading.Humidity, Value: rh})
	if dp := i2cbus.DewPoint(t, rh); dp == dp {
		return append(out, driver.Sample{Channel: reading.DewPoint, Value: dp})
	}
	return append(out, driver.Sample{Channel: reading.DewPoint, Err: fmt.Errorf("aht20: dew point undefined at 0 %%RH")})
}

// Spec describes the aht20 driver.
var Spec = i2cbus.Spec{
	Name: "aht20", Chip: "AHT20", Addresses: []uint16{0x38},
	Channels: []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.01), driver.Channel(reading.Humidity, 0.01),
		driver.Channel(reading.DewPoint, 0.01)}, // datasheet: 0.01 °C, 0.024 %RH
	New: func() i2cbus.Chip { return &chip{} },
}

// Register adds the aht20 driver.
func Register(r *driver.Registry) { r.Add(Spec.Driver()) }
