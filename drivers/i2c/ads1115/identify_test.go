package ads1115

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The configuration register after power-up (0x8583): OS set, single-shot, comparator off.
// A TMP102 at the same address leaves only the address.
func TestIdentifier(t *testing.T) {
	got, ok := i2cfake.Identify(t, Identifier, 0x49, i2ctest.IO{Addr: 0x49, W: []byte{0x01}, R: []byte{0x85, 0x83}})
	if want := (i2cbus.Identity{Driver: "ads1115", What: "ADS1115 (idle single-shot configuration)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	byAddress := i2cbus.Identity{Driver: "ads1115", What: "ADS1115? (by address)"}
	if got, ok := i2cfake.Identify(t, Identifier, 0x48, i2ctest.IO{Addr: 0x48, W: []byte{0x01}, R: []byte{0x60, 0xA0}}); got != byAddress || !ok {
		t.Errorf("TMP102 config: got %+v %v, want %+v", got, ok, byAddress)
	}
}
