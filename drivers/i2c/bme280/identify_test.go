package bme280

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The chip id in register 0xD0: a BME280, a BMP280 (also its sample ids), another Bosch
// part without a driver, and a device that does not answer.
func TestIdentifier(t *testing.T) {
	for _, tc := range []struct {
		addr uint16
		ops  []i2ctest.IO
		want i2cbus.Identity
		ok   bool
	}{
		{0x76, []i2ctest.IO{{Addr: 0x76, W: []byte{0xD0}, R: []byte{IDBME280}}}, i2cbus.Identity{Driver: "bme280", What: "BME280 (chip id 0x60)", Sure: true}, true},
		{0x77, []i2ctest.IO{{Addr: 0x77, W: []byte{0xD0}, R: []byte{IDBMP280}}}, i2cbus.Identity{Driver: "bmp280", What: "BMP280 (chip id 0x58; no humidity even if sold as BME280)", Sure: true}, true},
		{0x76, []i2ctest.IO{{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x56}}}, i2cbus.Identity{Driver: "bmp280", What: "BMP280 (chip id 0x56; no humidity even if sold as BME280)", Sure: true}, true},
		{0x77, []i2ctest.IO{{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x61}}}, i2cbus.Identity{What: "BME680 at a Bosch address (no rackwatch driver)"}, true},
		{0x76, []i2ctest.IO{{Addr: 0x76, W: []byte{0xD0}, R: []byte{0xFF}}}, i2cbus.Identity{What: "unknown chip id 0xff at a Bosch address (no rackwatch driver)"}, true},
		{0x76, nil, i2cbus.Identity{}, false},
	} {
		got, ok := i2cfake.Identify(t, Identifier, tc.addr, tc.ops...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("0x%02x %v: got %+v %v, want %+v %v", tc.addr, tc.ops, got, ok, tc.want, tc.ok)
		}
	}
}
