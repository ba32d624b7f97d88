package hdc302x

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func TestConvertEnds(t *testing.T) {
	if tc, rh := Convert(0, 0); tc != -45 || rh != 0 {
		t.Errorf("zero counts: %v %v", tc, rh)
	}
	if tc, rh := Convert(65535, 65535); tc != 130 || rh != 100 {
		t.Errorf("full counts: %v %v", tc, rh)
	}
}

func TestReadAndWrongChip(t *testing.T) {
	data := append(i2cfake.SensirionWord(0x6666), i2cfake.SensirionWord(0x8000)...)
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x45, W: []byte{0x37, 0x81}, R: i2cfake.SensirionWord(0x3000)},
		{Addr: 0x45, W: []byte{0x24, 0x00}},
		{Addr: 0x45, R: data},
	}}
	p, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: cold-aisle.3, driver: hdc302x, bus: i2c1, address: 0x45}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := i2cfake.Value(t, out, reading.Temperature); math.Abs(v-25) > 0.01 {
		t.Errorf("T %v, want 25 (0x6666 = 0.4 of 175 - 45)", v)
	}
	if v := i2cfake.Value(t, out, reading.Humidity); math.Abs(v-50) > 0.01 {
		t.Errorf("RH %v, want 50", v)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
	// An SHT4x at 0x44 answers the id command with something else.
	pb = &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{{Addr: 0x44, W: []byte{0x37, 0x81}, R: i2cfake.SensirionWord(0x1234)}}}
	if _, err := i2cfake.Open(t, Spec.Driver(), configtest.Sensor(t, "{id: x, driver: hdc302x, bus: i2c1}"), pb); !errors.Is(err, i2cbus.ErrWrongChip) {
		t.Errorf("got %v", err)
	}
}
