package i2cscan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/drivers/i2c/ads1115"
	"github.com/rackwatch/rackwatch/drivers/i2c/aht20"
	"github.com/rackwatch/rackwatch/drivers/i2c/bme280"
	"github.com/rackwatch/rackwatch/drivers/i2c/hdc302x"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
	"github.com/rackwatch/rackwatch/drivers/i2c/ina219"
	"github.com/rackwatch/rackwatch/drivers/i2c/mcp9808"
	"github.com/rackwatch/rackwatch/drivers/i2c/scd4x"
	"github.com/rackwatch/rackwatch/drivers/i2c/sgp30"
	"github.com/rackwatch/rackwatch/drivers/i2c/tmp102"
)

// chips are the identifiers the binary compiles in, in its order (cmd/rackwatch's i2cChips): the tests
// here may import the chip packages, the scanner may not.
var chips = []i2cbus.Identifier{
	bme280.Identifier, mcp9808.Identifier, aht20.Identifier, sgp30.Identifier, scd4x.Identifier,
	hdc302x.Identifier, ina219.Identifier, tmp102.Identifier, ads1115.Identifier,
}

// regDev is a register- or command-addressed chip: a write sets the pointer (register or command) and a
// read returns that register's bytes. A commandChip NACKs a read when no command is pending, as
// Sensirion and TI HDC302x parts do.
type regDev struct {
	regs       map[string][]byte
	commandSet bool
	last       *string
}

func dev(regs map[string][]byte) regDev { return regDev{regs: regs, last: new(string)} }

func commandChip(regs map[string][]byte) regDev {
	d := dev(regs)
	d.commandSet = true
	return d
}

func (d regDev) tx(w, r []byte) error {
	if len(w) > 0 {
		*d.last = string(w)
	}
	if len(r) == 0 {
		return nil
	}
	v, ok := d.regs[*d.last]
	if d.commandSet {
		if !ok {
			return errNACK
		}
		*d.last = ""
	}
	copy(r, v)
	return nil
}

// device is one chip on the fake bus.
type device interface{ tx(w, r []byte) error }

// fakeBus is a root bus with a PCA9548A at 0x70.
type fakeBus struct {
	root     map[uint16]device
	mask     byte
	channels [8]map[uint16]device
}

var errNACK = errors.New("nack")

func (b *fakeBus) Tx(a uint16, w, r []byte) error {
	if a == 0x70 {
		if len(w) > 0 {
			b.mask = w[0]
		}
		if len(r) > 0 {
			r[0] = b.mask
		}
		return nil
	}
	if d, ok := b.root[a]; ok {
		return d.tx(w, r)
	}
	for ch := 0; ch < 8; ch++ {
		if b.mask&(1<<ch) != 0 {
			if d, ok := b.channels[ch][a]; ok {
				return d.tx(w, r)
			}
		}
	}
	return errNACK
}

func (b *fakeBus) SetSpeed(physic.Frequency) error { return nil }
func (b *fakeBus) String() string                  { return "fake" }

func hdc() regDev { return commandChip(map[string][]byte{"\x37\x81": i2cfake.SensirionWord(0x3000)}) }

func TestScanFindsSensorsBehindMux(t *testing.T) {
	sleep = func(time.Duration) {}
	b := &fakeBus{
		root: map[uint16]device{
			0x76: dev(map[string][]byte{"\xd0": {0x60}}),
			0x77: dev(map[string][]byte{"\xd0": {0x58}}),
			0x48: dev(map[string][]byte{"\x01": {0x60, 0xA0}}),
			0x49: dev(map[string][]byte{"\x01": {0x85, 0x83}}),
			0x40: dev(map[string][]byte{"\x00": {0x39, 0x9F}}),
			0x58: commandChip(map[string][]byte{"\x20\x2f": i2cfake.SensirionWord(0x0022)}),
			0x62: commandChip(map[string][]byte{"\xe4\xb8": i2cfake.SensirionWord(0x8000)}),
		},
		mask: 0x00,
	}
	b.channels[2] = map[uint16]device{0x44: hdc()}
	b.channels[5] = map[uint16]device{0x44: hdc()}
	found := Scan(b, chips)
	var got []string
	for _, f := range found {
		got = append(got, f.String())
	}
	want := []string{
		"0x40 INA219 (configuration register at its reset value)",
		"0x48 TMP102 (read-only resolution bits 11)",
		"0x49 ADS1115 (idle single-shot configuration)",
		"0x58 SGP30 (feature set 0x0022)",
		"0x62 SCD40/SCD41 (answers get_data_ready_status with a valid CRC)",
		"0x70 PCA9548A I2C multiplexer (channel register reads back)",
		"0x76 BME280 (chip id 0x60)",
		"0x77 BMP280 (chip id 0x58; no humidity even if sold as BME280)",
		"0x44 (mux 0x70 ch 2) HDC302x (manufacturer 0x3000)",
		"0x44 (mux 0x70 ch 5) HDC302x (manufacturer 0x3000)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b.mask != 0 {
		t.Errorf("mux left at 0x%02x, want it restored to 0x00", b.mask)
	}

	// The printed lines are a valid config as they stand.
	lines := ConfigLines("i2c1", found)
	doc := "gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nbuses:\n  - {id: i2c1, type: i2c, device: /dev/i2c-1}\nsensors:\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := config.Parse("scan.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	r := driver.NewRegistry()
	i2cbus.Register(r)
	bme280.Register(r)
	hdc302x.Register(r)
	tmp102.Register(r)
	sgp30.Register(r)
	scd4x.Register(r)
	ads1115.Register(r)
	ina219.Register(r)
	if _, err := agent.Check(cfg, r); err != nil {
		t.Errorf("scan output does not pass check: %v\n%s", err, doc)
	}
	if len(cfg.Sensors) != 9 {
		t.Errorf("%d sensor lines, want 9:\n%s", len(cfg.Sensors), doc)
	}
}
