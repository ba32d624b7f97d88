package bme280

import (
	"context"
	"encoding/binary"
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

// exampleCal is the trimming data of the worked example in the BMP280 datasheet (BST-BMP280-DS001,
// 3.12, table 16). The BME280's temperature and pressure formulas are the same.
var exampleCal = Calibration{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
}

// Humidity trimming values read from a BME280 (typical of the part; the datasheet has no humidity example).
var humCal = struct {
	H1, H3     uint8
	H2, H4, H5 int16
	H6         int8
}{H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30}

const (
	exampleAdcT = 519888
	exampleAdcP = 415148
)

func TestCompensationDatasheetExample(t *testing.T) {
	c := exampleCal
	centi, tFine := c.Temperature(exampleAdcT)
	if tFine != 128422 {
		t.Errorf("t_fine = %d, datasheet says 128422", tFine)
	}
	if centi != 2508 {
		t.Errorf("T = %d/100 °C, datasheet says 25.08 °C", centi)
	}
	p := float64(c.Pressure(exampleAdcP, tFine)) / 256
	if math.Abs(p-100653.27) > 0.5 {
		t.Errorf("p = %.2f Pa, datasheet says 100653.27 Pa", p)
	}
}

// floatHumidity is the datasheet's double-precision formula (BME280 datasheet 8.1).
func floatHumidity(c *Calibration, adcH, tFine int32) float64 {
	h := float64(tFine) - 76800
	h = (float64(adcH) - (float64(c.H4)*64 + float64(c.H5)/16384*h)) *
		(float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*h*(1+float64(c.H3)/67108864*h)))
	h *= 1 - float64(c.H1)*h/524288
	return min(max(h, 0), 100)
}

func TestHumidityIntegerMatchesFloatFormula(t *testing.T) {
	c := exampleCal
	c.H1, c.H2, c.H3, c.H4, c.H5, c.H6 = humCal.H1, humCal.H2, humCal.H3, humCal.H4, humCal.H5, humCal.H6
	for _, adcT := range []int32{400000, exampleAdcT, 560000} {
		_, tFine := c.Temperature(adcT)
		for adcH := int32(20000); adcH < 40000; adcH += 1000 {
			got := float64(c.Humidity(adcH, tFine)) / 1024
			want := floatHumidity(&c, adcH, tFine)
			if math.Abs(got-want) > 0.05 {
				t.Errorf("adc_T=%d adc_H=%d: integer %.3f %%RH, float %.3f %%RH", adcT, adcH, got, want)
			}
		}
	}
}

func TestParseCalibrationSignExtendsH4H5(t *testing.T) {
	tp := make([]byte, 26)
	binary.LittleEndian.PutUint16(tp[0:], 27504)
	// H4 = -5 (0xFFB): 0xE4 = 0xFF, 0xE5 low nibble = 0xB; H5 = -3 (0xFFD): 0xE6 = 0xFF, 0xE5 high nibble 0xD.
	h := []byte{0x6a, 0x01, 0x00, 0xFF, 0xDB, 0xFF, 0x1e}
	c := ParseCalibration(tp, h)
	if c.H4 != -5 || c.H5 != -3 || c.H2 != 362 || c.H6 != 30 {
		t.Errorf("H2=%d H4=%d H5=%d H6=%d, want 362 -5 -3 30", c.H2, c.H4, c.H5, c.H6)
	}
}

// calBytes encodes a calibration as the chip stores it at 0x88 and 0xE1.
func calBytes(c Calibration) (tp, h []byte) {
	tp = make([]byte, 26)
	le := binary.LittleEndian
	for i, v := range []uint16{c.T1, uint16(c.T2), uint16(c.T3), c.P1, uint16(c.P2), uint16(c.P3), uint16(c.P4),
		uint16(c.P5), uint16(c.P6), uint16(c.P7), uint16(c.P8), uint16(c.P9)} {
		le.PutUint16(tp[2*i:], v)
	}
	tp[25] = c.H1
	h = make([]byte, 7)
	le.PutUint16(h, uint16(c.H2))
	h[2] = c.H3
	h[3] = byte(c.H4 >> 4)
	h[4] = byte(c.H4&0x0F) | byte(c.H5&0x0F)<<4
	h[5] = byte(c.H5 >> 4)
	h[6] = byte(c.H6)
	return tp, h
}

func initOps(addr uint16, id byte, c Calibration) []i2ctest.IO {
	tp, h := calBytes(c)
	ops := []i2ctest.IO{
		{Addr: addr, W: []byte{0xD0}, R: []byte{id}},
		{Addr: addr, W: []byte{0x88}, R: tp},
	}
	if id == IDBME280 {
		ops = append(ops, i2ctest.IO{Addr: addr, W: []byte{0xE1}, R: h},
			i2ctest.IO{Addr: addr, W: []byte{0xF4, 0x24, 0xF5, 0x00, 0xF2, 0x01}})
	} else {
		ops = append(ops, i2ctest.IO{Addr: addr, W: []byte{0xF4, 0x24, 0xF5, 0x00}})
	}
	return ops
}

func measureOps(addr uint16, data []byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0xF4, 0x25}},
		{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: addr, W: []byte{0xF7}, R: data},
	}
}

// exampleData is the burst read 0xF7..0xFE holding adc_P, adc_T (datasheet example) and adc_H.
func exampleData(adcH uint16) []byte {
	return []byte{
		byte(exampleAdcP >> 12), byte(exampleAdcP >> 4 & 0xFF), byte(exampleAdcP << 4 & 0xFF),
		byte(exampleAdcT >> 12), byte(exampleAdcT >> 4 & 0xFF), byte(exampleAdcT << 4 & 0xFF),
		byte(adcH >> 8), byte(adcH),
	}
}

func value(t *testing.T, s []driver.Sample, ch reading.Channel) float64 {
	t.Helper()
	for _, x := range s {
		if x.Channel == ch {
			if x.Err != nil {
				t.Fatalf("%s: %v", ch, x.Err)
			}
			return x.Value
		}
	}
	t.Fatalf("no %s in %v", ch, s)
	return 0
}

func TestBME280ReadsDatasheetExample(t *testing.T) {
	c := exampleCal
	c.H1, c.H2, c.H3, c.H4, c.H5, c.H6 = humCal.H1, humCal.H2, humCal.H3, humCal.H4, humCal.H5, humCal.H6
	ops := initOps(0x76, IDBME280, c)
	ops = append(ops, measureOps(0x76, exampleData(0x6E00))...)
	pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
	s := configtest.Sensor(t, "{id: r12.inlet, driver: bme280, bus: i2c1, address: 0x76}")
	if _, err := check(true)(s); err != nil {
		t.Fatal(err)
	}
	dev, err := open(true)(context.Background(), driver.Env{Sensor: s, Bus: pb})
	if err != nil {
		t.Fatal(err)
	}
	out, err := dev.(driver.Poller).Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(t, out, reading.Temperature); v != 25.08 {
		t.Errorf("temperature %v, want 25.08", v)
	}
	if v := value(t, out, reading.Pressure); math.Abs(v-1006.5327) > 0.005 {
		t.Errorf("pressure %v hPa, want 1006.53", v)
	}
	rh := value(t, out, reading.Humidity)
	_, tFine := c.Temperature(exampleAdcT)
	if want := floatHumidity(&c, 0x6E00, tFine); math.Abs(rh-want) > 0.05 {
		t.Errorf("humidity %v, want %v", rh, want)
	}
	if dp := value(t, out, reading.DewPoint); dp >= 25.08 || dp < -40 || math.Abs(dp-i2cbus.DewPoint(25.08, rh)) > 1e-9 {
		t.Errorf("dew point %v for 25.08 °C / %.1f %%RH", dp, rh)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestBMP280ChipIDs(t *testing.T) {
	for _, id := range []byte{0x56, 0x57, 0x58} {
		ops := initOps(0x77, id, exampleCal)
		ops = append(ops, measureOps(0x77, exampleData(0)[:6])...)
		pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
		s := configtest.Sensor(t, "{id: ups.bay, driver: bmp280, bus: i2c1, address: 0x77}")
		dev, err := open(false)(context.Background(), driver.Env{Sensor: s, Bus: pb})
		if err != nil {
			t.Fatalf("id 0x%02x: %v", id, err)
		}
		out, err := dev.(driver.Poller).Read(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 2 || value(t, out, reading.Temperature) != 25.08 {
			t.Errorf("id 0x%02x: %v", id, out)
		}
		if err := pb.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestWrongChipNamesSensorBusAddress(t *testing.T) {
	for _, tc := range []struct {
		id   byte
		want string
	}{
		{0x58, "is a BMP280"},
		{0x61, "BME680"},
		{0xFF, "chip id 0xff"},
	} {
		pb := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x77, W: []byte{0xD0}, R: []byte{tc.id}}}, DontPanic: true}
		s := configtest.Sensor(t, "{id: r12.outlet, driver: bme280, bus: i2c1, address: 0x77, mux: {address: 0x70, channel: 3}}")
		bus := &i2ctest.Playback{Ops: append([]i2ctest.IO{{Addr: 0x70, W: []byte{0x08}}}, pb.Ops...), DontPanic: true}
		_, err := open(true)(context.Background(), driver.Env{Sensor: s, Bus: bus})
		if err == nil {
			t.Fatalf("id 0x%02x accepted as a BME280", tc.id)
		}
		for _, w := range []string{"bme280", "r12.outlet", "bus i2c1", "0x77 via mux 0x70 channel 3", tc.want} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		if !errors.Is(err, i2cbus.ErrWrongChip) {
			t.Errorf("error %v is not ErrWrongChip", err)
		}
	}
}

func TestUnplugThenReplugRecovers(t *testing.T) {
	c := exampleCal
	ops := initOps(0x76, IDBMP280, c)
	ops = append(ops, measureOps(0x76, exampleData(0)[:6])...)
	// Plugged back in: the chip lost its configuration, so the driver must re-read id and calibration.
	ops = append(ops, initOps(0x76, IDBMP280, c)...)
	ops = append(ops, measureOps(0x76, exampleData(0)[:6])...)
	plug := &i2cfake.Plug{Bus: &i2ctest.Playback{Ops: ops, DontPanic: true}}
	s := configtest.Sensor(t, "{id: r1.top, driver: bmp280, bus: i2c1, address: 0x76}")
	dev, err := open(false)(context.Background(), driver.Env{Sensor: s, Bus: plug})
	if err != nil {
		t.Fatal(err)
	}
	p := dev.(driver.Poller)
	if _, err := p.Read(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	plug.Unplugged.Store(true)
	for range 2 {
		out, err := p.Read(context.Background(), nil)
		if err == nil || len(out) != 0 {
			t.Fatalf("unplugged read gave %v, %v", out, err)
		}
		for _, w := range []string{"r1.top", "i2c1", "0x76", "no acknowledge"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
	plug.Unplugged.Store(false)
	out, err := p.Read(context.Background(), nil)
	if err != nil {
		t.Fatalf("after re-plug: %v", err)
	}
	if value(t, out, reading.Temperature) != 25.08 {
		t.Errorf("after re-plug: %v", out)
	}
	// The outage is visible in /metrics: two failed reads (the second a failed re-init), one re-init.
	counts := dev.(driver.Counters).Counters()
	if counts["bus_error"] != 2 || counts["reinit"] != 1 {
		t.Errorf("counters %v, want bus_error 2, reinit 1", counts)
	}
	if err := plug.Bus.(*i2ctest.Playback).Close(); err != nil {
		t.Error(err)
	}
}

func TestCheckRejectsBadAddress(t *testing.T) {
	s := configtest.Sensor(t, "{id: a, driver: bme280, bus: i2c1, address: 0x48}")
	_, err := check(true)(s)
	if err == nil || !strings.Contains(err.Error(), "test.yaml:5") || !strings.Contains(err.Error(), "0x76, 0x77") {
		t.Errorf("got %v", err)
	}
	s = configtest.Sensor(t, "{id: a, driver: bme280, bus: i2c1, address: 0x76, oversampling: 4}")
	if _, err := check(true)(s); err == nil || !strings.Contains(err.Error(), "oversampling") {
		t.Errorf("unknown key accepted: %v", err)
	}
}
