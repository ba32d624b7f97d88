package aht20

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The status byte (command 0x71): calibration bit 3 set confirms an AHT20; clear, the address alone suggests one.
func TestIdentifier(t *testing.T) {
	got, ok := i2cfake.Identify(t, Identifier, 0x38, i2ctest.IO{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}})
	if want := (i2cbus.Identity{Driver: "aht20", What: "AHT20 (status: calibrated)", Sure: true}); got != want || !ok {
		t.Errorf("calibrated: got %+v %v, want %+v", got, ok, want)
	}
	got, ok = i2cfake.Identify(t, Identifier, 0x38, i2ctest.IO{Addr: 0x38, W: []byte{0x71}, R: []byte{0x10}})
	if want := (i2cbus.Identity{Driver: "aht20", What: "AHT20 (by address)"}); got != want || !ok {
		t.Errorf("not calibrated: got %+v %v, want %+v", got, ok, want)
	}
}
