package scd4x

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// The datasheet's read_measurement example: 01 F4 33 | 66 67 A2 | 5E B9 3C = 500 ppm, 25 °C, 37 %RH.
var example = []byte{0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C}

func TestDatasheetExample(t *testing.T) {
	now := time.Unix(1000, 0)
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x62, W: []byte{0x3F, 0x86}},
		{Addr: 0x62, W: []byte{0x36, 0x82}},
		{Addr: 0x62, R: append(append(i2cfake.SensirionWord(0xF896), i2cfake.SensirionWord(0x9F07)...), i2cfake.SensirionWord(0x3BBE)...)},
		{Addr: 0x62, W: []byte{0x21, 0xB1}},
		// First poll: nothing yet.
		{Addr: 0x62, W: []byte{0xE4, 0xB8}},
		{Addr: 0x62, R: i2cfake.SensirionWord(0x8000)},
		// Second: ready.
		{Addr: 0x62, W: []byte{0xE4, 0xB8}},
		{Addr: 0x62, R: i2cfake.SensirionWord(0x8006)},
		{Addr: 0x62, W: []byte{0xEC, 0x05}},
		{Addr: 0x62, R: example},
		// Third, soon after: not ready again, so the last measurement is repeated.
		{Addr: 0x62, W: []byte{0xE4, 0xB8}},
		{Addr: 0x62, R: i2cfake.SensirionWord(0x8000)},
	}}
	d := newDriver(func() time.Time { return now })
	p, err := i2cfake.Open(t, d, configtest.Sensor(t, "{id: batt-room.co2, driver: scd4x, bus: i2c1, every: 5s}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no measurement yet") {
		t.Errorf("first read: %v", err)
	}
	for i := 0; i < 2; i++ {
		out, err := p.Read(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := i2cfake.Value(t, out, reading.CO2); v != 500 {
			t.Errorf("co2 %v", v)
		}
		if v := i2cfake.Value(t, out, reading.Temperature); math.Abs(v-25) > 0.01 {
			t.Errorf("T %v", v)
		}
		if v := i2cfake.Value(t, out, reading.Humidity); math.Abs(v-37) > 0.01 {
			t.Errorf("RH %v", v)
		}
		now = now.Add(5 * time.Second)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestEveryShorterThanPeriodRejected(t *testing.T) {
	_, err := i2cfake.Open(t, newDriver(time.Now), configtest.Sensor(t, "{id: c, driver: scd4x, bus: i2c1, every: 1s}"), nil)
	if err == nil || !strings.Contains(err.Error(), "5s") || !strings.Contains(err.Error(), "test.yaml:") {
		t.Errorf("got %v", err)
	}
}
