package i2cbus

import (
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/rackwatch/rackwatch/agent/config"
)

func TestCRC8DatasheetCheckValue(t *testing.T) {
	// SCD4x datasheet 3.11 and SGP30 datasheet 6.6: CRC(0xBEEF) = 0x92.
	if c := CRC8([]byte{0xBE, 0xEF}); c != 0x92 {
		t.Errorf("CRC8(BEEF) = 0x%02x, want 0x92", c)
	}
	var w [1]uint16
	if err := Words([]byte{0xBE, 0xEF, 0x92}, w[:]); err != nil || w[0] != 0xBEEF {
		t.Errorf("Words: %v %x", err, w)
	}
	if err := Words([]byte{0xBE, 0xEF, 0x93}, w[:]); err == nil {
		t.Error("bad CRC accepted")
	}
}

func TestDewPoint(t *testing.T) {
	// Reference values from the Magnus formula with Sonntag's coefficients (same as tables in WMO-No. 8).
	for _, c := range []struct{ t, rh, want float64 }{
		{25, 50, 13.85}, {20, 100, 20}, {30, 70, 23.93}, {0, 80, -3.0},
	} {
		if got := DewPoint(c.t, c.rh); math.Abs(got-c.want) > 0.05 {
			t.Errorf("DewPoint(%v, %v) = %.2f, want %.2f", c.t, c.rh, got, c.want)
		}
	}
	if !math.IsNaN(DewPoint(20, 0)) {
		t.Error("dew point at 0 %RH should be undefined")
	}
}

func TestMuxPortSelectsChannelBeforeEveryTransaction(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x70, W: []byte{0x08}},
		{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x60}},
		{Addr: 0x70, W: []byte{0x08}},
		{Addr: 0x76, W: []byte{0xF7}, R: []byte{1, 2}},
	}}
	p := &Port{Parent: NewBus("i2c1", pb), Mux: 0x70, Channel: 3}
	var id [1]byte
	if err := p.Tx(0x76, []byte{0xD0}, id[:]); err != nil || id[0] != 0x60 {
		t.Fatal(err, id)
	}
	var d [2]byte
	if err := p.Tx(0x76, []byte{0xF7}, d[:]); err != nil {
		t.Fatal(err)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestBusTypeCheck(t *testing.T) {
	for doc, want := range map[string]string{
		"{id: i2c1, type: i2c}":                              "device is required",
		"{id: i2c1, type: i2c, device: /dev/ttyUSB0}":        "not an I2C adapter",
		"{id: i2c1, type: i2c, device: /dev/i2c-1, baud: 1}": "unknown key",
	} {
		cfg, err := config.Parse("t.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nbuses:\n  - "+doc+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBus(cfg.Buses[0].DriverBus(cfg.File)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "t.yaml:4") {
			t.Errorf("%s: got %v, want %q at t.yaml:4", doc, err, want)
		}
	}
	if _, err := OpenDevice("/dev/i2c-does-not-exist"); err == nil || !strings.Contains(err.Error(), "is I2C enabled") {
		t.Errorf("missing adapter: %v", err)
	}
}
