package bme280

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Addresses a BME280/BMP280 answers at (SDO to GND: 0x76, to VDDIO: 0x77).
var Addresses = []uint16{0x76, 0x77}

// Chip ids in register 0xD0.
const (
	IDBME280 = 0x60
	// BMP280 mass production parts report 0x58; samples 0x56 and 0x57.
	IDBMP280 = 0x58
)

const (
	regID       = 0xD0
	regCalib00  = 0x88 // 0x88..0xA1: T1..T3, P1..P9, reserved, H1
	regCalib26  = 0xE1 // 0xE1..0xE7: H2..H6
	regCtrlHum  = 0xF2
	regStatus   = 0xF3
	regCtrlMeas = 0xF4
	regConfig   = 0xF5
	regData     = 0xF7

	osrsX1     = 1
	modeForced = 1
	// ctrl_meas: osrs_t x1, osrs_p x1, forced mode.
	ctrlMeasForced = osrsX1<<5 | osrsX1<<2 | modeForced
	ctrlMeasSleep  = osrsX1<<5 | osrsX1<<2
	// Maximum measurement time with x1 oversampling on all three (datasheet 9.1):
	// 1.25 + 2.3 + (2.3 + 0.575) + (2.3 + 0.575) ms.
	measureTime = 9300 * time.Microsecond
)

// IsBMP280 reports whether id is one of the BMP280's chip ids.
func IsBMP280(id byte) bool { return id == 0x56 || id == 0x57 || id == IDBMP280 }

// ChipName names a chip id read from 0xD0 at 0x76/0x77, for error messages and `rackwatch scan`.
func ChipName(id byte) string {
	switch {
	case id == IDBME280:
		return "BME280"
	case IsBMP280(id):
		return "BMP280"
	case id == 0x55:
		return "BMP180"
	case id == 0x61:
		return "BME680"
	}
	return fmt.Sprintf("unknown chip id 0x%02x", id)
}

// Calibration holds the trimming parameters burnt into each chip (datasheet table 16 / 18).
type Calibration struct {
	T1                             uint16
	T2, T3                         int16
	P1                             uint16
	P2, P3, P4, P5, P6, P7, P8, P9 int16
	H1, H3                         uint8
	H2, H4, H5                     int16
	H6                             int8
}

// ParseCalibration decodes the 26 bytes from 0x88 and (BME280 only) the 7 bytes from 0xE1.
func ParseCalibration(tp []byte, h []byte) Calibration {
	le := binary.LittleEndian
	c := Calibration{
		T1: le.Uint16(tp[0:]), T2: int16(le.Uint16(tp[2:])), T3: int16(le.Uint16(tp[4:])),
		P1: le.Uint16(tp[6:]), P2: int16(le.Uint16(tp[8:])), P3: int16(le.Uint16(tp[10:])),
		P4: int16(le.Uint16(tp[12:])), P5: int16(le.Uint16(tp[14:])), P6: int16(le.Uint16(tp[16:])),
		P7: int16(le.Uint16(tp[18:])), P8: int16(le.Uint16(tp[20:])), P9: int16(le.Uint16(tp[22:])),
		H1: tp[25],
	}
	if len(h) >= 7 {
		c.H2 = int16(le.Uint16(h[0:]))
		c.H3 = h[2]
		// H4 is 0xE4[7:0] / 0xE5[3:0] and H5 is 0xE6[7:0] / 0xE5[7:4], both signed 12-bit: the high byte
		// is sign-extended (Bosch's reference driver casts it to int8 first).
		c.H4 = int16(int8(h[3]))<<4 | int16(h[4]&0x0F)
		c.H5 = int16(int8(h[5]))<<4 | int16(h[4]>>4)
		c.H6 = int8(h[6])
	}
	return c
}

// Temperature compensates adc_T (datasheet 4.2.3, 32-bit integer). It returns the temperature in
// hundredths of °C and t_fine, which the pressure and humidity formulas need.
func (c *Calibration) Temperature(adcT int32) (centiC int32, tFine int32) {
	var1 := ((adcT>>3 - int32(c.T1)<<1) * int32(c.T2)) >> 11
	d := adcT>>4 - int32(c.T1)
	var2 := (((d * d) >> 12) * int32(c.T3)) >> 14
	tFine = var1 + var2
	return (tFine*5 + 128) >> 8, tFine
}

// Pressure compensates adc_P (datasheet 4.2.3, 64-bit integer) and returns Pa in Q24.8 (value/256 = Pa).
// It returns 0 when the calibration would divide by zero.
func (c *Calibration) Pressure(adcP, tFine int32) uint32 {
	var1 := int64(tFine) - 128000
	var2 := var1 * var1 * int64(c.P6)
	var2 += (var1 * int64(c.P5)) << 17
	var2 += int64(c.P4) << 35
	var1 = (var1*var1*int64(c.P3))>>8 + (var1*int64(c.P2))<<12
	var1 = ((int64(1)<<47 + var1) * int64(c.P1)) >> 33
	if var1 == 0 {
		return 0
	}
	p := int64(1048576 - adcP)
	p = ((p<<31 - var2) * 3125) / var1
	var1 = (int64(c.P9) * (p >> 13) * (p >> 13)) >> 25
	var2 = (int64(c.P8) * p) >> 19
	p = (p+var1+var2)>>8 + int64(c.P7)<<4
	return uint32(p)
}

// Humidity compensates adc_H (datasheet 4.2.3, 32-bit integer) and returns %RH in Q22.10 (value/1024).
func (c *Calibration) Humidity(adcH, tFine int32) uint32 {
	v := tFine - 76800
	a := (adcH<<14 - int32(c.H4)<<20 - int32(c.H5)*v + 16384) >> 15
	b := ((((v*int32(c.H6))>>10)*(((v*int32(c.H3))>>11)+32768))>>10 + 2097152) * int32(c.H2)
	v = a * ((b + 8192) >> 14)
	v -= ((((v >> 15) * (v >> 15)) >> 7) * int32(c.H1)) >> 4
	v = max(v, 0)
	v = min(v, 419430400)
	return uint32(v >> 12)
}

type chip struct {
	wantBME bool
	isBME   bool
	cal     Calibration
	buf     [26]byte
	w       [2]byte // register writes, kept here so a read does not allocate
}

// reg returns c.w filled with the given bytes.
func (c *chip) reg(b ...byte) []byte { return c.w[:copy(c.w[:], b)] }

func (c *chip) name() string {
	if c.wantBME {
		return "bme280"
	}
	return "bmp280"
}

func (c *chip) Init(ctx context.Context, d *i2c.Dev) error {
	var id [1]byte
	if err := d.Tx([]byte{regID}, id[:]); err != nil {
		return fmt.Errorf("read chip id: %w", err)
	}
	switch {
	case id[0] == IDBME280:
		c.isBME = true
	case IsBMP280(id[0]):
		if c.wantBME {
			return fmt.Errorf("%w: chip id 0x%02x is a BMP280 (no humidity sensor), not a BME280; boards are often sold mislabelled: set driver: bmp280", i2cbus.ErrWrongChip, id[0])
		}
		c.isBME = false
	default:
		return fmt.Errorf("%w: chip id 0x%02x (%s), expected 0x60 (BME280) or 0x56-0x58 (BMP280)", i2cbus.ErrWrongChip, id[0], ChipName(id[0]))
	}
	var tp [26]byte
	if err := d.Tx([]byte{regCalib00}, tp[:]); err != nil {
		return fmt.Errorf("read calibration: %w", err)
	}
	var h [7]byte
	if c.isBME {
		if err := d.Tx([]byte{regCalib26}, h[:]); err != nil {
			return fmt.Errorf("read humidity calibration: %w", err)
		}
	}
	c.cal = ParseCalibration(tp[:], h[:])
	if c.cal.T1 == 0 || c.cal.P1 == 0 {
		return fmt.Errorf("calibration data is blank (T1=%d, P1=%d): the chip is not a Bosch part or did not finish booting", c.cal.T1, c.cal.P1)
	}
	// Sleep mode first so the config write is not ignored; ctrl_hum takes effect at the next ctrl_meas
	// write (datasheet 5.4.3); filter off, standby irrelevant in forced mode.
	w := []byte{regCtrlMeas, ctrlMeasSleep, regConfig, 0x00}
	if c.isBME {
		w = append(w, regCtrlHum, osrsX1)
	}
	if err := d.Tx(w, nil); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	return nil
}

func (c *chip) Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error) {
	if err := d.Tx(c.reg(regCtrlMeas, ctrlMeasForced), nil); err != nil {
		return out, fmt.Errorf("start conversion: %w", err)
	}
	if err := i2cbus.Sleep(ctx, measureTime); err != nil {
		return out, err
	}
	// The conversion normally ends within measureTime; allow a few more polls for a slow part.
	status := c.buf[:1]
	for i := 0; ; i++ {
		if err := d.Tx(c.reg(regStatus), status); err != nil {
			return out, fmt.Errorf("read status: %w", err)
		}
		if status[0]&0x08 == 0 {
			break
		}
		if i == 5 {
			return out, fmt.Errorf("conversion did not finish (status 0x%02x)", status[0])
		}
		if err := i2cbus.Sleep(ctx, 2*time.Millisecond); err != nil {
			return out, err
		}
	}
	data := c.buf[:8]
	if !c.isBME {
		data = c.buf[:6]
	}
	if err := d.Tx(c.reg(regData), data); err != nil {
		return out, fmt.Errorf("read data: %w", err)
	}
	adcP := int32(data[0])<<12 | int32(data[1])<<4 | int32(data[2])>>4
	adcT := int32(data[3])<<12 | int32(data[4])<<4 | int32(data[5])>>4
	if adcT == 0x80000 {
		// 0x80000 is the reset value: the chip skipped the measurement (it was reset or lost power).
		return out, fmt.Errorf("temperature not measured (raw 0x80000: chip was reset)")
	}
	centi, tFine := c.cal.Temperature(adcT)
	t := float64(centi) / 100
	out = append(out, driver.Sample{Channel: reading.Temperature, Value: t})
	if c.wantBME {
		adcH := int32(data[6])<<8 | int32(data[7])
		if adcH == 0x8000 {
			out = append(out, driver.Sample{Channel: reading.Humidity, Err: fmt.Errorf("%s: humidity not measured", c.name())})
			out = append(out, driver.Sample{Channel: reading.DewPoint, Err: fmt.Errorf("%s: humidity not measured", c.name())})
		} else {
			rh := float64(c.cal.Humidity(adcH, tFine)) / 1024
			out = append(out, driver.Sample{Channel: reading.Humidity, Value: rh})
			if dp := i2cbus.DewPoint(t, rh); dp == dp {
				out = append(out, driver.Sample{Channel: reading.DewPoint, Value: dp})
			} else {
				out = append(out, driver.Sample{Channel: reading.DewPoint, Err: fmt.Errorf("%s: dew point undefined at 0 %%RH", c.name())})
			}
		}
	}
	if adcP == 0x80000 {
		out = append(out, driver.Sample{Channel: reading.Pressure, Err: fmt.Errorf("%s: pressure not measured", c.name())})
	} else if p := c.cal.Pressure(adcP, tFine); p == 0 {
		out = append(out, driver.Sample{Channel: reading.Pressure, Err: fmt.Errorf("%s: pressure compensation divided by zero (bad calibration)", c.name())})
	} else {
		out = append(out, driver.Sample{Channel: reading.Pressure, Value: float64(p) / 256 / 100})
	}
	return out, nil
}

func chipName(wantBME bool) string {
	if wantBME {
		return "BME280"
	}
	return "BMP280"
}

func check(wantBME bool) func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
	return func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
		if _, err := i2cbus.Decode(s, chipName(wantBME), Addresses); err != nil {
			return nil, err
		}
		// Output resolutions (datasheet 3.4-3.5): 0.01 °C, 1/1024 %RH, 0.18 Pa.
		t, p := driver.Channel(reading.Temperature, 0.01), driver.Channel(reading.Pressure, 0.01)
		if wantBME {
			return []driver.ChannelInfo{t, driver.Channel(reading.Humidity, 0.01), driver.Channel(reading.DewPoint, 0.01), p}, nil
		}
		return []driver.ChannelInfo{t, p}, nil
	}
}

func open(wantBME bool) func(ctx context.Context, env driver.Env) (driver.Device, error) {
	return func(ctx context.Context, env driver.Env) (driver.Device, error) {
		a, err := i2cbus.Decode(env.Sensor, chipName(wantBME), Addresses)
		if err != nil {
			return nil, err
		}
		c := &chip{wantBME: wantBME}
		return i2cbus.Open(ctx, env, c.name(), a, c)
	}
}

// Register adds the bme280 and bmp280 drivers.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{Name: "bme280", Buses: []string{i2cbus.TypeName}, Check: check(true), Open: open(true)})
	r.Add(driver.Driver{Name: "bmp280", Buses: []string{i2cbus.TypeName}, Check: check(false), Open: open(false)})
}
