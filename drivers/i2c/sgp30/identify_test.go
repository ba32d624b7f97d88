package sgp30

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// get_feature_set (0x202F, 10 ms): product type 0 confirms an SGP30; another product type or a
// bad CRC leaves only the address.
func TestIdentifier(t *testing.T) {
	probe := func(answer []byte) []i2ctest.IO {
		return []i2ctest.IO{{Addr: 0x58, W: []byte{0x20, 0x2F}}, {Addr: 0x58, R: answer}}
	}
	got, ok := i2cfake.Identify(t, Identifier, 0x58, probe(i2cfake.SensirionWord(0x0022))...)
	if want := (i2cbus.Identity{Driver: "sgp30", What: "SGP30 (feature set 0x0022)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	byAddress := i2cbus.Identity{Driver: "sgp30", What: "SGP30 (by address)"}
	for _, answer := range [][]byte{i2cfake.SensirionWord(0x1022), {0x00, 0x22, 0x00}} {
		if got, ok := i2cfake.Identify(t, Identifier, 0x58, probe(answer)...); got != byAddress || !ok {
			t.Errorf("answer % x: got %+v %v, want %+v", answer, got, ok, byAddress)
		}
	}
}
