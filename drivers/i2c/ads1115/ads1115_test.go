package ads1115

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func drv() driver.Driver {
	r := driver.NewRegistry()
	Register(r)
	return *r.Driver("ads1115")
}

const cfg = `id: batt-room.analog
    driver: ads1115
    bus: i2c1
    address: 0x49
    rate: 860
    inputs:
      - {channel: h2, input: a0, range: 4.096, unit: ppm, calibration: [{volts: 0.4, value: 0}, {volts: 2.0, value: 1000}]}
      - {channel: loop_current, input: a2-a3, range: 0.256, unit: mA, calibration: [{volts: 0.04, value: 4}, {volts: 0.2, value: 20}]}
      - {channel: ref, input: a1, range: 6.144}`

func TestCalibratedInputs(t *testing.T) {
	// Config words per datasheet table 8: OS=1, MUX, PGA, MODE=1, DR=111 (860 SPS), COMP_QUE=11.
	// a0 single-ended, ±4.096 V: 1 100 001 1 111 00011 = 0xC3E3.
	// a2-a3 differential, ±0.256 V: 1 011 101 1 111 00011 = 0xBBE3.
	// a1 single-ended, ±6.144 V: 1 101 000 1 111 00011 = 0xD1E3.
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0x85, 0x83}},
		{Addr: 0x49, W: []byte{0x01, 0xC3, 0xE3}},
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0x43, 0xE3}}, // still converting
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0xC3, 0xE3}},
		{Addr: 0x49, W: []byte{0x00}, R: []byte{0x25, 0x80}}, // 9600 * 4.096/32768 = 1.2 V
		{Addr: 0x49, W: []byte{0x01, 0xBB, 0xE3}},
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0xBB, 0xE3}},
		{Addr: 0x49, W: []byte{0x00}, R: []byte{0x3C, 0x00}}, // 15360 * 0.256/32768 = 0.12 V
		{Addr: 0x49, W: []byte{0x01, 0xD1, 0xE3}},
		{Addr: 0x49, W: []byte{0x01}, R: []byte{0xD1, 0xE3}},
		{Addr: 0x49, W: []byte{0x00}, R: []byte{0x7F, 0xFF}}, // full scale
	}}
	p, err := i2cfake.Open(t, drv(), configtest.Sensor(t, cfg), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := i2cfake.Value(t, out, "h2"); math.Abs(v-500) > 1e-9 {
		t.Errorf("h2 %v ppm, want 500 (1.2 V half way between 0.4 V and 2.0 V)", v)
	}
	if v := i2cfake.Value(t, out, "loop_current"); math.Abs(v-12) > 1e-9 {
		t.Errorf("loop %v mA, want 12", v)
	}
	if out[2].Channel != "ref" || out[2].Err == nil || !strings.Contains(out[2].Err.Error(), "full scale") {
		t.Errorf("saturated input: %+v", out[2])
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestChannelsAndUnits(t *testing.T) {
	chs, err := drv().Check(configtest.Sensor(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	// Resolutions: one count (range/32768 V) through the calibration, to the power of ten below it.
	want := []driver.ChannelInfo{{Channel: "h2", Unit: "ppm", Resolution: 0.01}, {Channel: "loop_current", Unit: "mA", Resolution: 0.0001},
		{Channel: "ref", Unit: "V", Resolution: 0.0001}}
	if !reflect.DeepEqual(chs, want) {
		t.Errorf("got %v", chs)
	}
}

func TestCheckErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"{id: a, driver: ads1115, bus: i2c1}":                                                                                               "inputs is required",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a4}]}":                                                            "input \"a4\"",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a0, range: 5}]}":                                                  "range 5",
		"{id: a, driver: ads1115, bus: i2c1, rate: 100, inputs: [{channel: x, input: a0}]}":                                                 "rate 100",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a0, calibration: [{volts: 1, value: 2}]}]}":                       "exactly two",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a0, calibration: [{volts: 1, value: 2}, {volts: 2, value: 3}]}]}": "unit is required",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a0, gain: 2}]}":                                                   "unknown key",
		"{id: a, driver: ads1115, bus: i2c1, inputs: [{channel: x, input: a0}, {channel: x, input: a1}]}":                                   "listed twice",
	} {
		if _, err := drv().Check(configtest.Sensor(t, yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}
