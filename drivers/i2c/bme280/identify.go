package bme280

import (
	"fmt"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Identifier recognises a BME280 or a BMP280 by its chip id (register 0xD0) for `rackwatch scan`. Another
// Bosch chip id (BMP180, BME680) is named, by address only and without a driver.
//
// A PCA9548A multiplexer can also sit at 0x76/0x77 and latches the 0xD0 written here as its channel mask;
// the scanner tests for it before asking.
var Identifier = i2cbus.Identifier{Chip: "BME280/BMP280", Addrs: Addresses, Identify: identify}

func identify(bus i2c.Bus, addr uint16) (i2cbus.Identity, bool) {
	var id [1]byte
	if bus.Tx(addr, []byte{regID}, id[:]) != nil {
		return i2cbus.Identity{}, false
	}
	switch {
	case id[0] == IDBME280:
		return i2cbus.Identity{Driver: "bme280", What: fmt.Sprintf("BME280 (chip id 0x%02x)", id[0]), Sure: true}, true
	case IsBMP280(id[0]):
		return i2cbus.Identity{Driver: "bmp280", What: fmt.Sprintf("BMP280 (chip id 0x%02x; no humidity even if sold as BME280)", id[0]), Sure: true}, true
	}
	return i2cbus.Identity{What: ChipName(id[0]) + " at a Bosch address (no rackwatch driver)"}, true
}
