package scd4x

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an SCD40/SCD41 for `rackwatch scan` by a CRC-checked answer to
// get_data_ready_status, which the chip accepts in idle and in periodic mode alike (reading the serial
// number would mean stopping a running measurement). Otherwise only the fixed address suggests it.
var Identifier = i2cbus.Identifier{Chip: "SCD40/SCD41", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	if _, ok := i2cbus.ProbeWord(bus, addr, 0xE4B8, 10*time.Millisecond); ok {
		return i2cbus.Identity{Driver: "scd4x", What: "SCD40/SCD41 (answers get_data_ready_status with a valid CRC)", Sure: true}, true
	}
	return i2cbus.Identity{Driver: "scd4x", What: "SCD40/SCD41 (by address)"}, true
}
