package aht20

import (
	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an AHT20 for `rackwatch scan`. The chip has no id register: a status byte with the
// calibration bit set (as after power-up) confirms it, otherwise only its fixed address suggests it.
var Identifier = i2cbus.Identifier{Chip: "AHT20", Addrs: Spec.Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var st [1]byte
	if bus.Tx(addr, []byte{0x71}, st[:]) == nil && st[0]&0x08 != 0 {
		return i2cbus.Identity{Driver: "aht20", What: "AHT20 (status: calibrated)", Sure: true}, true
	}
	return i2cbus.Identity{Driver: "aht20", What: "AHT20 (by address)"}, true
}
