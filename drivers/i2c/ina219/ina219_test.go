package ina219

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func drv() driver.Driver {
	r := driver.NewRegistry()
	Register(r)
	return *r.Driver("ina219")
}

func TestBatteryStringReading(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x41, W: []byte{0x00, 0x39, 0x9F}},
		{Addr: 0x41, W: []byte{0x00}, R: []byte{0x39, 0x9F}},
		// Shunt 0x0FA0 = 4000 * 10 µV = 40 mV across 0.00075 Ω = 53.33 A.
		{Addr: 0x41, W: []byte{0x01}, R: []byte{0x0F, 0xA0}},
		// Bus 0x6978 >> 3 = 3375 * 4 mV = 13.5 V, CNVR set.
		{Addr: 0x41, W: []byte{0x02}, R: []byte{0x69, 0x7A}},
		// Discharging: negative shunt voltage -20 mV.
		{Addr: 0x41, W: []byte{0x01}, R: []byte{0xF8, 0x30}},
		{Addr: 0x41, W: []byte{0x02}, R: []byte{0x69, 0x7A}},
		// Overflow.
		{Addr: 0x41, W: []byte{0x01}, R: []byte{0x7F, 0xFF}},
		{Addr: 0x41, W: []byte{0x02}, R: []byte{0x69, 0x7B}},
	}}
	p, err := i2cfake.Open(t, drv(), configtest.Sensor(t, "{id: ups1.string-a, driver: ina219, bus: i2c1, address: 0x41, shunt: 0.00075}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, i, w := i2cfake.Value(t, out, reading.Voltage), i2cfake.Value(t, out, reading.Current), i2cfake.Value(t, out, reading.Power)
	if math.Abs(v-13.5) > 1e-9 || math.Abs(i-53.3333) > 1e-3 || math.Abs(w-720) > 1e-2 {
		t.Errorf("V %v I %v P %v, want 13.5 V 53.33 A 720 W", v, i, w)
	}
	out, _ = p.Read(context.Background(), nil)
	if i := i2cfake.Value(t, out, reading.Current); math.Abs(i+26.6667) > 1e-3 {
		t.Errorf("discharge current %v, want -26.67 A", i)
	}
	out, err = p.Read(context.Background(), nil)
	if err != nil || out[1].Err == nil || !strings.Contains(out[1].Err.Error(), "overflow") || out[0].Err != nil {
		t.Errorf("overflow: voltage stays good, current bad: %+v %v", out, err)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestWrongChipAndShuntCheck(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x40, W: []byte{0x00, 0x39, 0x9F}},
		{Addr: 0x40, W: []byte{0x00}, R: []byte{0x00, 0x00}},
	}}
	if _, err := i2cfake.Open(t, drv(), configtest.Sensor(t, "{id: x, driver: ina219, bus: i2c1}"), pb); !errors.Is(err, i2cbus.ErrWrongChip) {
		t.Errorf("got %v", err)
	}
	if _, err := drv().Check(configtest.Sensor(t, "{id: x, driver: ina219, bus: i2c1, shunt: 0}")); err == nil || !strings.Contains(err.Error(), "shunt") {
		t.Errorf("got %v", err)
	}
}
