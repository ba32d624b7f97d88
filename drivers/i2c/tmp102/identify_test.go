package tmp102

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The configuration register: R1/R0 read 11 in a TMP102. An ADS1115 at the same address
// leaves only the address.
func TestIdentifier(t *testing.T) {
	got, ok := i2cfake.Identify(t, Identifier, 0x48, i2ctest.IO{Addr: 0x48, W: []byte{0x01}, R: []byte{0x60, 0xA0}})
	if want := (i2cbus.Identity{Driver: "tmp102", What: "TMP102 (read-only resolution bits 11)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	byAddress := i2cbus.Identity{Driver: "tmp102", What: "TMP102? (by address)"}
	if got, ok := i2cfake.Identify(t, Identifier, 0x49, i2ctest.IO{Addr: 0x49, W: []byte{0x01}, R: []byte{0x85, 0x83}}); got != byAddress || !ok {
		t.Errorf("ADS1115 config: got %+v %v, want %+v", got, ok, byAddress)
	}
	if got, ok := i2cfake.Identify(t, Identifier, 0x4B); got != byAddress || !ok {
		t.Errorf("no answer: got %+v %v, want %+v", got, ok, byAddress)
	}
}
