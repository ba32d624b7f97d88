package sgp30

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises an SGP30 for `rackwatch scan` by its get_feature_set answer (product type 0 in
// the top four bits); get_feature_set does not start a measurement. Otherwise only the fixed address
// suggests it.
var Identifier = i2cbus.Identifier{Chip: "SGP30", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	if fs, ok := i2cbus.ProbeWord(bus, addr, 0x202F, 10*time.Millisecond); ok && fs>>12 == 0 {
		return i2cbus.Identity{Driver: "sgp30", What: fmt.Sprintf("SGP30 (feature set 0x%04x)", fs), Sure: true}, true
	}
	return i2cbus.Identity{Driver: "sgp30", What: "SGP30 (by address)"}, true
}
