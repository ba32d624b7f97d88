package i2cscan

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/onewire"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
)

// latch is a PCA9548A-like register at a Bosch address: whatever byte is written is read back.
type latch struct{ mask *byte }

func (l latch) tx(w, r []byte) error {
	if len(w) > 0 {
		*l.mask = w[0]
	}
	if len(r) > 0 {
		r[0] = *l.mask
	}
	return nil
}

// bridge is a DS2482-100 with one 1-Wire device, enough of it for periph's ds248x to set it up and search.
type bridge struct {
	rom    uint64
	status byte
	ptr    byte
	conf   byte
	bit    int
}

func (b *bridge) tx(w, r []byte) error {
	if len(w) > 0 {
		switch w[0] {
		case 0xF0: // device reset
			b.status, b.ptr = 0x18, 0xF0
		case 0xE1: // set read pointer
			if w[1] != 0xF0 && w[1] != 0xE1 && w[1] != 0xC3 {
				return errNACK // a DS2482-100 has no port or channel register
			}
			b.ptr = w[1]
		case 0xD2: // write configuration
			b.conf, b.ptr, b.status = w[1], 0xC3, b.status&^0x10
		case 0xB4: // 1-Wire reset: a presence pulse
			b.status, b.ptr = 0x02, 0xF0
		case 0xA5: // write byte
			if w[1] == 0xF0 {
				b.bit = 0
			}
			b.status, b.ptr = 0x00, 0xF0
		case 0x78: // triplet: one device, so its bit is always taken
			v := byte(b.rom >> b.bit & 1)
			b.status, b.ptr = v<<5|(1-v)<<6|v<<7, 0xF0
			b.bit++
		default:
			return errNACK
		}
	}
	if len(r) > 0 {
		switch b.ptr {
		case 0xF0:
			r[0] = b.status
		case 0xC3:
			r[0] = b.conf & 0x0F
		default:
			r[0] = 0
		}
	}
	return nil
}

func newBridge(family byte, serial uint64) *bridge {
	var id [8]byte
	id[0] = family
	for i := 1; i < 7; i++ {
		id[i] = byte(serial >> (8 * (i - 1)))
	}
	id[7] = onewire.CalcCRC(id[:7])
	var rom uint64
	for i := 7; i >= 0; i-- {
		rom = rom<<8 | uint64(id[i])
	}
	return &bridge{rom: rom}
}

func scanReport(t *testing.T, b *fakeBus) string {
	t.Helper()
	found := Scan(b, chips)
	var lines []string
	for _, f := range found {
		lines = append(lines, f.String())
	}
	lines = append(lines, "--")
	lines = append(lines, ConfigLines("i2c1", found)...)
	return strings.Join(lines, "\n")
}

// TestScanConfirmedParts pins what the scan says about parts whose id or register confirms them.
func TestScanConfirmedParts(t *testing.T) {
	sleep = func(time.Duration) {}
	b := &fakeBus{root: map[uint16]device{
		0x18: dev(map[string][]byte{"\x06": {0x00, 0x54}, "\x07": {0x04, 0x00}}),
		0x19: newBridge(0x28, 0x0316a2795aff),
		0x38: dev(map[string][]byte{"\x71": {0x18}}),
		0x45: hdc(),
	}}
	got := scanReport(t, b)
	want := `0x18 MCP9808 (manufacturer 0x0054, device 0x04)
0x19 DS248x 1-Wire bridge with 1 DS18B20 probe(s)
0x38 AHT20 (status: calibrated)
0x45 HDC302x (manufacturer 0x3000)
0x70 PCA9548A I2C multiplexer (channel register reads back)
--
  # 0x18: MCP9808 (manufacturer 0x0054, device 0x04)
  - {id: i2c1.mcp9808-18, driver: mcp9808, bus: i2c1, address: 0x18}
  # 0x19: DS248x 1-Wire bridge with 1 DS18B20 probe(s)
  - {id: i2c1.28-0316a2795aff, driver: ds18b20, bus: i2c1, address: 0x19, rom: 28-0316a2795aff}
  # 0x38: AHT20 (status: calibrated)
  - {id: i2c1.aht20-38, driver: aht20, bus: i2c1, address: 0x38}
  # 0x45: HDC302x (manufacturer 0x3000)
  - {id: i2c1.hdc302x-45, driver: hdc302x, bus: i2c1, address: 0x45}
  # 0x70: PCA9548A I2C multiplexer (channel register reads back)`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestScanUnconfirmedParts pins what the scan says when an id does not confirm the part: a guess by
// address, "could not tell", a Bosch chip without a driver, a mux that latched the id register's address.
func TestScanUnconfirmedParts(t *testing.T) {
	sleep = func(time.Duration) {}
	var mask76 byte = 0x04
	b := &fakeBus{root: map[uint16]device{
		0x10: dev(nil),
		0x1A: dev(nil),
		0x38: dev(map[string][]byte{"\x71": {0x10}}),
		0x41: dev(nil),
		0x45: dev(nil),
		0x4A: dev(map[string][]byte{"\x01": {0x00, 0x00}}),
		0x4E: dev(map[string][]byte{"\x00": {0x12, 0x34}}),
		0x58: commandChip(map[string][]byte{"\x20\x2f": i2cfake.SensirionWord(0x1022)}),
		0x62: commandChip(map[string][]byte{"\xe4\xb8": {0x80, 0x00, 0x00}}),
		0x71: dev(nil),
		0x76: latch{&mask76},
		0x77: dev(map[string][]byte{"\xd0": {0x61}}),
	}}
	got := scanReport(t, b)
	want := `0x10 unknown device
0x1a DS2482/DS2483 1-Wire bridge?
0x38 AHT20 (by address)
0x41 INA219? (by address)
0x45 INA219? (by address)
0x4a TMP102 or ADS1115 (could not tell)
0x4e INA219? (by address)
0x58 SGP30 (by address)
0x62 SCD40/SCD41 (by address)
0x70 PCA9548A I2C multiplexer (channel register reads back)
0x71 unknown device
0x76 PCA9548A I2C multiplexer (channel register reads back)
0x77 BME680 at a Bosch address (no rackwatch driver)
--
  # 0x10: unknown device  (unconfirmed: check the part)
  # 0x1a: DS2482/DS2483 1-Wire bridge?  (unconfirmed: check the part)
  # 0x38: AHT20 (by address)  (unconfirmed: check the part)
  - {id: i2c1.aht20-38, driver: aht20, bus: i2c1, address: 0x38}
  # 0x41: INA219? (by address)  (unconfirmed: check the part)
  - {id: i2c1.ina219-41, driver: ina219, bus: i2c1, address: 0x41, shunt: 0.1}
  # 0x45: INA219? (by address)  (unconfirmed: check the part)
  - {id: i2c1.ina219-45, driver: ina219, bus: i2c1, address: 0x45, shunt: 0.1}
  # 0x4a: TMP102 or ADS1115 (could not tell)  (unconfirmed: check the part)
  # 0x4e: INA219? (by address)  (unconfirmed: check the part)
  - {id: i2c1.ina219-4e, driver: ina219, bus: i2c1, address: 0x4e, shunt: 0.1}
  # 0x58: SGP30 (by address)  (unconfirmed: check the part)
  - {id: i2c1.sgp30-58, driver: sgp30, bus: i2c1, address: 0x58, every: 1s}
  # 0x62: SCD40/SCD41 (by address)  (unconfirmed: check the part)
  - {id: i2c1.scd4x-62, driver: scd4x, bus: i2c1, address: 0x62, every: 5s}
  # 0x70: PCA9548A I2C multiplexer (channel register reads back)
  # 0x71: unknown device  (unconfirmed: check the part)
  # 0x76: PCA9548A I2C multiplexer (channel register reads back)
  # 0x77: BME680 at a Bosch address (no rackwatch driver)  (unconfirmed: check the part)`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if mask76 != 0x04 {
		t.Errorf("mux at 0x76 left at 0x%02x, want 0x04", mask76)
	}
}
