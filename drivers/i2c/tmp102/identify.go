package tmp102

import (
	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises a TMP102 for `rackwatch scan` by its configuration register: the converter
// resolution bits R1/R0 are read-only 11, and the second byte's unused bits and EM (extended mode) read 0
// as after power-up. Otherwise only the address suggests it (ADS1115s share the addresses).
var Identifier = i2cbus.Identifier{Chip: "TMP102", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var c [2]byte
	if bus.Tx(addr, []byte{0x01}, c[:]) == nil && c[0]&0x60 == 0x60 && c[1]&0x1F == 0 {
		return i2cbus.Identity{Driver: "tmp102", What: "TMP102 (read-only resolution bits 11)", Sure: true}, true
	}
	return i2cbus.Identity{Driver: "tmp102", What: "TMP102? (by address)"}, true
}
