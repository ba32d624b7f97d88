package aht20

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// frame builds a measurement for raw humidity and temperature counts with a valid CRC.
func frame(status byte, h, t uint32) []byte {
	b := []byte{status, byte(h >> 12), byte(h >> 4), byte(h<<4) | byte(t>>16&0x0F), byte(t >> 8), byte(t), 0}
	b[6] = i2cbus.CRC8(b[:6])
	return b
}

func TestDecode(t *testing.T) {
	// Half scale on both: 50 %RH and 200*0.5-50 = 50 °C; quarter-scale temperature is 0 °C.
	tc, rh, err := Decode(frame(0x1C, 1<<19, 1<<19))
	if err != nil || tc != 50 || rh != 50 {
		t.Errorf("got %v %v %v", tc, rh, err)
	}
	tc, _, _ = Decode(frame(0x1C, 0, 1<<18))
	if tc != 0 {
		t.Errorf("quarter scale: %v °C, want 0", tc)
	}
	bad := frame(0x1C, 1<<19, 1<<19)
	bad[2] ^= 1
	if _, _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("corrupt frame: %v", err)
	}
	if _, _, err := Decode(frame(0x9C, 1, 1)); err == nil {
		t.Error("busy frame accepted")
	}
}

func TestCalibratesUncalibratedChipThenReads(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x38, W: []byte{0x71}, R: []byte{0x10}},
		{Addr: 0x38, W: []byte{0xBE, 0x08, 0x00}},
		{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}},
		{Addr: 0x38, W: []byte{0xAC, 0x33, 0x00}},
		{Addr: 0x38, R: frame(0x9C, 0, 0)}, // still busy
		{Addr: 0x38, R: frame(0x1C, 419430, 380108)},
	}}
	p, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: r5.mid, driver: aht20, bus: i2c1}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, rh := i2cfake.Value(t, out, reading.Temperature), i2cfake.Value(t, out, reading.Humidity)
	if math.Abs(tc-22.5) > 0.01 || math.Abs(rh-40) > 0.01 {
		t.Errorf("T %v RH %v, want 22.5 °C 40 %%RH", tc, rh)
	}
	if dp := i2cfake.Value(t, out, reading.DewPoint); math.Abs(dp-8.4) > 0.2 {
		t.Errorf("dew point %v, want about 8.4 °C", dp)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}
