package ina219

import (
	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an INA219 for `rackwatch scan` by its configuration register at the reset value
// (the value the driver writes too). Without it the address alone suggests an INA219, except at
// 0x48-0x4B, where TMP102s and ADS1115s are far more common: there it has no opinion.
var Identifier = i2cbus.Identifier{Chip: "INA219", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var cfg [2]byte
	if bus.Tx(addr, []byte{0x00}, cfg[:]) == nil && uint16(cfg[0])<<8|uint16(cfg[1]) == configValue {
		return i2cbus.Identity{Driver: "ina219", What: "INA219 (configuration register at its reset value)", Sure: true}, true
	}
	if addr >= 0x48 && addr <= 0x4B {
		return i2cbus.Identity{}, false
	}
	return i2cbus.Identity{Driver: "ina219", What: "INA219? (by address)"}, true
}
