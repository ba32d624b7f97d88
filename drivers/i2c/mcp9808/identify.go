package mcp9808

import (
	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an MCP9808 by its manufacturer and device id registers for `rackwatch scan`. It
// does not guess by address: DS2482/DS2483 1-Wire bridges answer at the same addresses, and the scanner
// looks for those itself.
var Identifier = i2cbus.Identifier{Chip: "MCP9808", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var m, d [2]byte
	errM := bus.Tx(addr, []byte{regManufID}, m[:])
	errD := bus.Tx(addr, []byte{regDeviceID}, d[:])
	if errM != nil || errD != nil || uint16(m[0])<<8|uint16(m[1]) != ManufacturerID || d[0] != DeviceID {
		return i2cbus.Identity{}, false
	}
	return i2cbus.Identity{Driver: "mcp9808", What: "MCP9808 (manufacturer 0x0054, device 0x04)", Sure: true}, true
}
