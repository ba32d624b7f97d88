package sgp30

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

func words(ws ...uint16) []byte {
	var b []byte
	for _, w := range ws {
		b = append(b, i2cfake.SensirionWord(w)...)
	}
	return b
}

func TestWarmUpThenValuesAndRaw(t *testing.T) {
	now := time.Unix(0, 0)
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x58, W: []byte{0x20, 0x2F}},
		{Addr: 0x58, R: words(0x0022)},
		{Addr: 0x58, W: []byte{0x20, 0x03}},
		// During warm-up: fixed 400 ppm / 0 ppb.
		{Addr: 0x58, W: []byte{0x20, 0x08}},
		{Addr: 0x58, R: words(400, 0)},
		{Addr: 0x58, W: []byte{0x20, 0x50}},
		{Addr: 0x58, R: words(13600, 19200)},
		// After warm-up.
		{Addr: 0x58, W: []byte{0x20, 0x08}},
		{Addr: 0x58, R: words(1250, 870)},
		{Addr: 0x58, W: []byte{0x20, 0x50}},
		{Addr: 0x58, R: words(12900, 18800)},
	}}
	p, err := i2cfake.Open(t, newDriver(func() time.Time { return now }), configtest.Sensor(t, "{id: batt-room.voc, driver: sgp30, bus: i2c1, every: 1s, raw: true}"), pb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 || !errors.Is(out[0].Err, i2cbus.ErrNotReady) || !errors.Is(out[1].Err, i2cbus.ErrNotReady) {
		t.Errorf("warm-up values must be bad: %+v", out)
	}
	if i2cfake.Value(t, out, H2Raw) != 13600 {
		t.Errorf("raw H2: %+v", out)
	}
	now = now.Add(WarmUp)
	out, err = p.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if i2cfake.Value(t, out, reading.VOC) != 870 || i2cfake.Value(t, out, ECO2) != 1250 || i2cfake.Value(t, out, EthanolRaw) != 18800 {
		t.Errorf("%+v", out)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestCheck(t *testing.T) {
	if _, err := i2cfake.Open(t, newDriver(time.Now), configtest.Sensor(t, "{id: v, driver: sgp30, bus: i2c1}"), nil); err == nil || !strings.Contains(err.Error(), "every: 1s") {
		t.Errorf("default every accepted: %v", err)
	}
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x58, W: []byte{0x20, 0x2F}},
		{Addr: 0x58, R: words(0x1022)}, // an SGPC3 or other family member
	}}
	if _, err := i2cfake.Open(t, newDriver(time.Now), configtest.Sensor(t, "{id: v, driver: sgp30, bus: i2c1, every: 1s}"), pb); !errors.Is(err, i2cbus.ErrWrongChip) {
		t.Errorf("got %v", err)
	}
}
