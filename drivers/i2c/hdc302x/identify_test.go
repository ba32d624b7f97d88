package hdc302x

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The manufacturer id (command 0x3781) 0x3000 confirms an HDC302x; another id (an SHT4x) or no answer (an
// INA219) gets no opinion.
func TestIdentifier(t *testing.T) {
	probe := func(a uint16, answer []byte) []i2ctest.IO {
		return []i2ctest.IO{{Addr: a, W: []byte{0x37, 0x81}}, {Addr: a, R: answer}}
	}
	got, ok := i2cfake.Identify(t, Identifier, 0x44, probe(0x44, i2cfake.SensirionWord(ManufacturerID))...)
	if want := (i2cbus.Identity{Driver: "hdc302x", What: "HDC302x (manufacturer 0x3000)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	if got, ok := i2cfake.Identify(t, Identifier, 0x45, probe(0x45, i2cfake.SensirionWord(0x1234))...); ok {
		t.Errorf("manufacturer 0x1234: got %+v", got)
	}
	if got, ok := i2cfake.Identify(t, Identifier, 0x47); ok {
		t.Errorf("no answer: got %+v", got)
	}
}
