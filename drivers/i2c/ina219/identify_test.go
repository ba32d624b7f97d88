package ina219

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The configuration register at its reset value 0x399F confirms an INA219. Otherwise the
// address suggests one, except at 0x48-0x4B, shared with the TMP102 and ADS1115.
func TestIdentifier(t *testing.T) {
	cfg := func(a uint16, v ...byte) i2ctest.IO { return i2ctest.IO{Addr: a, W: []byte{0x00}, R: v} }
	got, ok := i2cfake.Identify(t, Identifier, 0x40, cfg(0x40, 0x39, 0x9F))
	if want := (i2cbus.Identity{Driver: "ina219", What: "INA219 (configuration register at its reset value)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	got, ok = i2cfake.Identify(t, Identifier, 0x49, cfg(0x49, 0x39, 0x9F))
	if !got.Sure || !ok {
		t.Errorf("reset value at 0x49: got %+v %v", got, ok)
	}
	byAddress := i2cbus.Identity{Driver: "ina219", What: "INA219? (by address)"}
	for _, a := range []uint16{0x41, 0x44, 0x47, 0x4C, 0x4F} {
		if got, ok := i2cfake.Identify(t, Identifier, a, cfg(a, 0x01, 0x9F)); got != byAddress || !ok {
			t.Errorf("0x%02x: got %+v %v, want %+v", a, got, ok, byAddress)
		}
	}
	for _, a := range []uint16{0x48, 0x4B} {
		if got, ok := i2cfake.Identify(t, Identifier, a, cfg(a, 0x60, 0xA0)); ok {
			t.Errorf("0x%02x: got %+v, want no opinion", a, got)
		}
	}
}
