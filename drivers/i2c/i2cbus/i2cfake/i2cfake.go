// Package i2cfake has test helpers for the I2C drivers: a bus that can be "unplugged" in front of an
// i2ctest.Playback, opening a driver's device on it as the agent would, and asking a chip's Identifier.
package i2cfake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// ErrNACK is what an unplugged device looks like on Linux i2c-dev (the kernel returns ENXIO / EREMOTEIO).
var ErrNACK = errors.New("i2c: no acknowledge (remote I/O error)")

// Plug is an I2C bus that passes transactions to Bus while Unplugged is false and NACKs them otherwise.
type Plug struct {
	Bus       i2c.Bus
	Unplugged atomic.Bool
}

// Tx implements i2c.Bus.
func (p *Plug) Tx(addr uint16, w, r []byte) error {
	if p.Unplugged.Load() {
		return fmt.Errorf("addr 0x%02x: %w", addr, ErrNACK)
	}
	return p.Bus.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (p *Plug) SetSpeed(f physic.Frequency) error { return nil }

// String implements i2c.Bus.
func (p *Plug) String() string { return "plug" }

// Open checks the sensor's options with d and opens it on bus, as the agent would. Build s from YAML with
// agent/config/configtest.Sensor, so that its options are decoded exactly as the agent decodes them.
func Open(t testing.TB, d driver.Driver, s *driver.Sensor, bus i2c.Bus) (driver.Poller, error) {
	t.Helper()
	if _, err := d.Check(s); err != nil {
		return nil, err
	}
	dev, err := d.Open(context.Background(), driver.Env{Sensor: s, Bus: bus})
	if err != nil {
		return nil, err
	}
	return dev.(driver.Poller), nil
}

// Identify asks id about the device at addr on an i2ctest.Playback of ops and fails the test unless addr
// is one of id.Addrs and every op was played, in order. A transaction beyond ops is NACKed, as by a
// device that does not answer it.
func Identify(t testing.TB, id i2cbus.Identifier, addr uint16, ops ...i2ctest.IO) (i2cbus.Identity, bool) {
	t.Helper()
	if !slices.Contains(id.Addrs, addr) {
		t.Fatalf("%s: 0x%02x is not one of its addresses %#x", id.Chip, addr, id.Addrs)
	}
	pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
	got, ok := id.Identify(pb, addr)
	if err := pb.Close(); err != nil {
		t.Errorf("%s at 0x%02x: %v", id.Chip, addr, err)
	}
	return got, ok
}

// Value returns the value of channel ch in samples, failing the test if it is missing or bad.
func Value(t testing.TB, samples []driver.Sample, ch reading.Channel) float64 {
	t.Helper()
	for _, s := range samples {
		if s.Channel == ch {
			if s.Err != nil {
				t.Fatalf("%s: %v", ch, s.Err)
			}
			return s.Value
		}
	}
	t.Fatalf("no %s in %+v", ch, samples)
	return 0
}

// SensirionWord returns a 16-bit word followed by its CRC8, as Sensirion and TI HDC302x chips send them.
func SensirionWord(w uint16) []byte {
	b := []byte{byte(w >> 8), byte(w)}
	return append(b, crc8(b))
}

func crc8(b []byte) byte {
	crc := byte(0xFF)
	for _, v := range b {
		crc ^= v
		for i := 0; i < 8; i++ {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
