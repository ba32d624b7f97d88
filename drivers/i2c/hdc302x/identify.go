package hdc302x

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an HDC302x by its manufacturer id for `rackwatch scan`. It does not guess by
// address: INA219s and SHT4x parts answer at the same addresses.
var Identifier = i2cbus.Identifier{Chip: "HDC302x", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	if id, ok := i2cbus.ProbeWord(bus, addr, 0x3781, 10*time.Millisecond); ok && id == ManufacturerID {
		return i2cbus.Identity{Driver: "hdc302x", What: "HDC302x (manufacturer 0x3000)", Sure: true}, true
	}
	return i2cbus.Identity{}, false
}
