package mcp9808

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func TestTemperatureRegister(t *testing.T) {
	for ta, want := range map[uint16]float64{
		0x0194: 25.25, // 0x19 = 25, 0x4 / 16
		0xC194: 25.25, // alert flags set, value unchanged
		0x1FF0: -1.0,  // sign bit: 256 - 255 = -1
		0x1E70: -25.0, // datasheet equation 5-1, negative branch
		0x0000: 0,
	} {
		if got := Temperature(ta); got != want {
			t.Errorf("T_A 0x%04x = %v, want %v", ta, got, want)
		}
	}
}

func TestReadAndWrongChip(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x19, W: []byte{0x06}, R: []byte{0x00, 0x54}},
		{Addr: 0x19, W: []byte{0x07}, R: []byte{0x04, 0x00}},
		{Addr: 0x19, W: []byte{0x01}, R: []byte{0x01, 0x00}}, // shut down
		{Addr: 0x19, W: []byte{0x08, 0x03}},
		{Addr: 0x19, W: []byte{0x01, 0x00, 0x00}},
		{Addr: 0x19, W: []byte{0x05}, R: []byte{0xC1, 0x94}},
	}}
	p, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: r3.exhaust, driver: mcp9808, bus: i2c1, address: 0x19}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil || i2cfake.Value(t, out, reading.Temperature) != 25.25 {
		t.Fatalf("%v %v", out, err)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}

	// A DS2482 at 0x18 is not an MCP9808.
	pb = &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x18, W: []byte{0x06}, R: []byte{0x18, 0x18}},
		{Addr: 0x18, W: []byte{0x07}, R: []byte{0x18, 0x18}},
	}}
	_, err = i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: r3.exhaust, driver: mcp9808, bus: i2c1}"), pb)
	if !errors.Is(err, i2cbus.ErrWrongChip) || !strings.Contains(err.Error(), "r3.exhaust on bus i2c1 at 0x18") {
		t.Errorf("got %v", err)
	}
}
