package i2cbus

import (
	"time"

	"periph.io/x/conn/v3/i2c"
)

// Identity is what a chip package says about the device at an address during `rackwatch scan`.
type Identity struct {
	// Driver is the rackwatch driver for the part (`driver:` in the config), or "" when there is none.
	Driver string
	// What names the part and how it was recognised: "BME280 (chip id 0x60)", "AHT20 (by address)".
	What string
	// Sure is true when a chip id or a register only this part has confirmed it, false when only the
	// address suggests it.
	Sure bool
}

// Identifier lets a chip package recognise its own part on a bus scan, so that the scanner (i2cscan) asks
// the chips compiled into the binary instead of importing their drivers. A chip package exports one as
// Identifier; cmd/rackwatch lists them.
//
// The scanner asks, in the order it was given them, the Identifiers whose Addrs hold the address of a
// device that answered. The first sure answer wins and ends the questioning. Without one, a single
// guess (ok with Sure false) is reported as it is, and several guesses become "A or B (could not tell)"
// without a driver.
type Identifier struct {
	// Chip names the part in the scanner's messages: "TMP102", "BME280/BMP280".
	Chip string
	// Addrs are the addresses the part can be strapped to; Identify is asked only at these.
	Addrs []uint16
	// Identify probes the device at addr and says what it is. ok=false means "not this chip" or "no
	// opinion" (another part shares the address and this one cannot tell); ok with Sure=false means only
	// the address suggests it. It may only read: an id or status register, or a command that changes
	// nothing (the agent is stopped during a scan, but the chip's configuration must survive it). It may
	// wait a command's execution time.
	Identify func(bus i2c.Bus, addr uint16) (id Identity, ok bool)
}

// ProbeWord is the probe of a chip with a Sensirion-style command set, which NACKs a read when no command
// is pending (SGP30, SCD4x, HDC302x): it sends the 16-bit command cmd, waits wait (the command's execution
// time) and reads one word with its CRC8. ok is false when the chip does not acknowledge or the CRC is wrong.
func ProbeWord(bus i2c.Bus, addr uint16, cmd uint16, wait time.Duration) (word uint16, ok bool) {
	if bus.Tx(addr, []byte{byte(cmd >> 8), byte(cmd)}, nil) != nil {
		return 0, false
	}
	time.Sleep(wait)
	var b [3]byte
	var w [1]uint16
	if bus.Tx(addr, nil, b[:]) != nil || Words(b[:], w[:]) != nil {
		return 0, false
	}
	return w[0], true
}
