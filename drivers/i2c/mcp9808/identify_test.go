package mcp9808

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// Manufacturer id 0x0054 and device id 0x04 in the upper byte of register 0x07 (the lower byte is the
// revision); anything else, such as a DS2482 bridge at the same address, gets no opinion.
func TestIdentifier(t *testing.T) {
	got, ok := i2cfake.Identify(t, Identifier, 0x18,
		i2ctest.IO{Addr: 0x18, W: []byte{0x06}, R: []byte{0x00, 0x54}},
		i2ctest.IO{Addr: 0x18, W: []byte{0x07}, R: []byte{0x04, 0x00}})
	if want := (i2cbus.Identity{Driver: "mcp9808", What: "MCP9808 (manufacturer 0x0054, device 0x04)", Sure: true}); got != want || !ok {
		t.Errorf("got %+v %v, want %+v", got, ok, want)
	}
	for _, dev := range [][2]byte{{0x18, 0x18}, {0x00, 0x00}, {0x05, 0x00}} {
		got, ok = i2cfake.Identify(t, Identifier, 0x1B,
			i2ctest.IO{Addr: 0x1B, W: []byte{0x06}, R: []byte{0x00, 0x54}},
			i2ctest.IO{Addr: 0x1B, W: []byte{0x07}, R: dev[:]})
		if ok {
			t.Errorf("device id %x: got %+v, want no opinion", dev, got)
		}
	}
	got, ok = i2cfake.Identify(t, Identifier, 0x1C,
		i2ctest.IO{Addr: 0x1C, W: []byte{0x06}, R: []byte{0x00, 0x54}},
		i2ctest.IO{Addr: 0x1C, W: []byte{0x07}, R: []byte{0x04, 0x01}})
	if !ok || !got.Sure {
		t.Errorf("revision 1: got %+v %v", got, ok)
	}
	if got, ok := i2cfake.Identify(t, Identifier, 0x1F); ok {
		t.Errorf("no answer: got %+v", got)
	}
}
