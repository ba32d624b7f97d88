package tmp102

import (
	"context"
	"errors"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func TestTemperatureDatasheetTable(t *testing.T) {
	// SBOS397 table "12-bit temperature data format".
	for _, c := range []struct {
		hi, lo byte
		want   float64
	}{
		{0x7F, 0xF0, 127.9375}, {0x64, 0x00, 100}, {0x19, 0x00, 25}, {0x03, 0x00, 3},
		{0x00, 0x40, 0.25}, {0x00, 0x00, 0}, {0xFF, 0xC0, -0.25}, {0xE7, 0x00, -25}, {0xC9, 0x00, -55},
		{0x4B, 0x01, 150}, // extended mode: 0x0960 in 13 bits
	} {
		if got := Temperature(c.hi, c.lo); got != c.want {
			t.Errorf("%02x%02x: %v, want %v", c.hi, c.lo, got, c.want)
		}
	}
}

func TestInitLeavesShutdownAndRejectsADS1115(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0x61, 0xA0}},
		{Addr: 0x49, W: []byte{0x01, 0x60, 0xA0}},
		{Addr: 0x49, W: []byte{0x00}, R: []byte{0x19, 0x00}},
	}}
	p, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: gw.board, driver: tmp102, bus: i2c1, address: 0x49}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil || i2cfake.Value(t, out, reading.Temperature) != 25 {
		t.Fatal(out, err)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
	pb = &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{{Addr: 0x48, W: []byte{0x01}, R: []byte{0x85, 0x83}}}}
	if _, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: x, driver: tmp102, bus: i2c1}"), pb); !errors.Is(err, i2cbus.ErrWrongChip) {
		t.Errorf("ADS1115 config accepted as TMP102: %v", err)
	}
}
