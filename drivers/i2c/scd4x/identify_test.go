package scd4x

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// get_data_ready_status (0xE4B8) answered with a valid CRC confirms an SCD4x; a bad CRC
// leaves only the address.
func TestIdentifier(t *testing.T) {
	probe := func(answer []byte) []i2ctest.IO {
		return []i2ctest.IO{{Addr: 0x62, W: []byte{0xE4, 0xB8}}, {Addr: 0x62, R: answer}}
	}
	got, ok := i2cfake.Identify(t, Identifier, 0x62, probe(i2cfake.SensirionWord(0x8000))...)
	if want := (i2cbus.Identity{Driver: "scd4x", What: "SCD40/SCD41 (answers get_data_ready_status with a valid CRC)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	got, ok = i2cfake.Identify(t, Identifier, 0x62, probe([]byte{0x80, 0x00, 0x00})...)
	if want := (i2cbus.Identity{Driver: "scd4x", What: "SCD40/SCD41 (by address)"}); got != want || !ok {
		t.Errorf("bad CRC: got %+v %v, want %+v", got, ok, want)
	}
}
