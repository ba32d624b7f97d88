package ads1115

import (
	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an ADS1115 for `rackwatch scan` by its configuration register in the idle
// single-shot state (OS set, MODE single-shot, comparator disabled: bits 0x8103), as after power-up. The
// chip has no id register, so otherwise only the address suggests it (TMP102s share the addresses).
var Identifier = i2cbus.Identifier{Chip: "ADS1115", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var c [2]byte
	if bus.Tx(addr, []byte{0x01}, c[:]) == nil && (uint16(c[0])<<8|uint16(c[1]))&0x8103 == 0x8103 {
		return i2cbus.Identity{Driver: "ads1115", What: "ADS1115 (idle single-shot configuration)", Sure: true}, true
	}
	return i2cbus.Identity{Driver: "ads1115", What: "ADS1115? (by address)"}, true
}
