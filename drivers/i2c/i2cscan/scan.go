package i2cscan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ds248x"

	"github.com/rackwatch/rackwatch/drivers/i2c/bme280"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/mcp9808"
)

// Found is one device that answered.
type Found struct {
	Addr uint16
	Mux  *i2cbus.Mux
	// Driver is the rackwatch driver for it, or "" when there is none.
	Driver string
	// What names the part and how it was recognised.
	What string
	// Sure is true when a chip id confirmed the part, false when only the address suggests it.
	Sure bool
	// ROMs are the 1-Wire probes found behind a DS248x bridge (kernel naming, 28-xxxxxxxxxxxx).
	ROMs []string
}

// Scan probes bus and returns what it found, sorted by mux channel and address.
func Scan(bus i2c.Bus) []Found {
	var out []Found
	root := present(bus, nil)
	for _, a := range root {
		f := identify(bus, a)
		out = append(out, f)
	}
	for _, f := range out {
		if f.Driver != "pca9548" {
			continue
		}
		out = append(out, behindMux(bus, f.Addr, root)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := muxKey(out[i].Mux), muxKey(out[j].Mux)
		if ki != kj {
			return ki < kj
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}

func muxKey(m *i2cbus.Mux) int {
	if m == nil {
		return -1
	}
	return int(m.Address)<<4 | m.Channel
}

// commandProbe is, for chips that NACK a read when no command is pending (Sensirion-style command
// sets), a harmless command whose acknowledge shows the chip is there: HDC302x manufacturer id,
// SGP30 get_feature_set, SCD4x get_data_ready_status (allowed in periodic mode too).
var commandProbe = map[uint16][]byte{
	0x44: {0x37, 0x81}, 0x45: {0x37, 0x81}, 0x46: {0x37, 0x81}, 0x47: {0x37, 0x81},
	0x58: {0x20, 0x2F}, 0x62: {0xE4, 0xB8},
}

// present returns the addresses that acknowledge a one-byte read (or their probe command), skipping
// those in skip. Linux i2c-dev offers no zero-length "quick" write through periph, so a read it is.
func present(bus i2c.Bus, skip []uint16) []uint16 {
	var out []uint16
	var b [1]byte
	for a := uint16(0x08); a <= 0x77; a++ {
		if contains(skip, a) {
			continue
		}
		if bus.Tx(a, nil, b[:]) == nil {
			out = append(out, a)
			continue
		}
		if cmd, ok := commandProbe[a]; ok && bus.Tx(a, cmd, nil) == nil {
			out = append(out, a)
			sleep(10 * time.Millisecond) // let the command finish before the next one
		}
	}
	return out
}

// sleep is time.Sleep; the scan is a command-line tool with nothing else to do meanwhile.
var sleep = time.Sleep

func contains(l []uint16, v uint16) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func behindMux(bus i2c.Bus, mux uint16, root []uint16) []Found {
	var prev [1]byte
	if bus.Tx(mux, nil, prev[:]) != nil {
		return nil
	}
	defer bus.Tx(mux, prev[:], nil)
	var out []Found
	for ch := 0; ch < 8; ch++ {
		if bus.Tx(mux, []byte{1 << ch}, nil) != nil {
			continue
		}
		// Devices on the root bus answer on every channel; only new addresses are behind this one.
		for _, a := range present(bus, root) {
			f := identify(bus, a)
			f.Mux = &i2cbus.Mux{Address: mux, Channel: ch}
			out = append(out, f)
		}
	}
	return out
}

func read(bus i2c.Bus, a uint16, w []byte, n int) ([]byte, bool) {
	r := make([]byte, n)
	return r, bus.Tx(a, w, r) == nil
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// isMux tests for a PCA9548A: its only register is the channel mask, which reads back what was written.
func isMux(bus i2c.Bus, a uint16) bool {
	prev, ok := read(bus, a, nil, 1)
	if !ok {
		return false
	}
	defer bus.Tx(a, prev, nil)
	if bus.Tx(a, []byte{0x05}, nil) != nil {
		return false
	}
	got, ok := read(bus, a, nil, 1)
	return ok && got[0] == 0x05
}

// sensirion sends a command, waits the longest execution time of the probed commands (get_feature_set,
// 10 ms), and reads one CRC-checked word.
func sensirion(bus i2c.Bus, a uint16, cmd uint16) (uint16, bool) {
	if bus.Tx(a, []byte{byte(cmd >> 8), byte(cmd)}, nil) != nil {
		return 0, false
	}
	sleep(10 * time.Millisecond)
	b, ok := read(bus, a, nil, 3)
	if !ok || i2cbus.CRC8(b[:2]) != b[2] {
		return 0, false
	}
	return be16(b), true
}

func identify(bus i2c.Bus, a uint16) Found {
	f := Found{Addr: a}
	switch {
	case a == 0x76 || a == 0x77:
		prev, _ := read(bus, a, nil, 1)
		id, ok := read(bus, a, []byte{0xD0}, 1)
		switch {
		case ok && id[0] == 0xD0:
			// A PCA9548A latched 0xD0 as its channel mask: put the old one back.
			bus.Tx(a, prev, nil)
			f.Driver, f.What, f.Sure = "pca9548", "PCA9548A I2C multiplexer (channel register reads back)", true
		case ok && id[0] == bme280.IDBME280:
			f.Driver, f.What, f.Sure = "bme280", "BME280 (chip id 0x60)", true
		case ok && bme280.IsBMP280(id[0]):
			f.Driver, f.What, f.Sure = "bmp280", fmt.Sprintf("BMP280 (chip id 0x%02x; no humidity even if sold as BME280)", id[0]), true
		case ok:
			f.What = bme280.ChipName(id[0]) + " at a Bosch address (no rackwatch driver)"
		}
	case a >= 0x70 && a <= 0x75:
		if isMux(bus, a) {
			f.Driver, f.What, f.Sure = "pca9548", "PCA9548A I2C multiplexer (channel register reads back)", true
		}
	case a >= 0x18 && a <= 0x1F:
		m, ok1 := read(bus, a, []byte{0x06}, 2)
		d, ok2 := read(bus, a, []byte{0x07}, 2)
		if ok1 && ok2 && be16(m) == mcp9808.ManufacturerID && d[0] == mcp9808.DeviceID {
			f.Driver, f.What, f.Sure = "mcp9808", "MCP9808 (manufacturer 0x0054, device 0x04)", true
			break
		}
		f.What = "DS2482/DS2483 1-Wire bridge?"
		if roms, ok := searchBridge(bus, a); ok {
			f.Driver, f.What, f.Sure, f.ROMs = "ds18b20", fmt.Sprintf("DS248x 1-Wire bridge with %d DS18B20 probe(s)", len(roms)), true, roms
		}
	case a == 0x38:
		st, ok := read(bus, a, []byte{0x71}, 1)
		if ok && st[0]&0x08 != 0 {
			f.Driver, f.What, f.Sure = "aht20", "AHT20 (status: calibrated)", true
		} else {
			f.Driver, f.What = "aht20", "AHT20 (by address)"
		}
	case a == 0x58:
		if fs, ok := sensirion(bus, a, 0x202F); ok && fs>>12 == 0 {
			f.Driver, f.What, f.Sure = "sgp30", fmt.Sprintf("SGP30 (feature set 0x%04x)", fs), true
		} else {
			f.Driver, f.What = "sgp30", "SGP30 (by address)"
		}
	case a == 0x62:
		// get_data_ready_status answers in idle and in periodic mode; the serial number would need
		// stopping a running measurement.
		if _, ok := sensirion(bus, a, 0xE4B8); ok {
			f.Driver, f.What, f.Sure = "scd4x", "SCD40/SCD41 (answers get_data_ready_status with a valid CRC)", true
		} else {
			f.Driver, f.What = "scd4x", "SCD40/SCD41 (by address)"
		}
	case a >= 0x40 && a <= 0x4F:
		if a >= 0x44 && a <= 0x47 {
			if id, ok := sensirion(bus, a, 0x3781); ok && id == 0x3000 {
				f.Driver, f.What, f.Sure = "hdc302x", "HDC302x (manufacturer 0x3000)", true
				break
			}
		}
		cfg, ok := read(bus, a, []byte{0x00}, 2)
		if ok && be16(cfg) == 0x399F {
			f.Driver, f.What, f.Sure = "ina219", "INA219 (configuration register at its reset value)", true
			break
		}
		if a >= 0x48 && a <= 0x4B {
			c1, ok := read(bus, a, []byte{0x01}, 2)
			switch {
			case ok && c1[0]&0x60 == 0x60 && c1[1]&0x1F == 0:
				f.Driver, f.What, f.Sure = "tmp102", "TMP102 (read-only resolution bits 11)", true
			case ok && be16(c1)&0x8103 == 0x8103:
				f.Driver, f.What, f.Sure = "ads1115", "ADS1115 (idle single-shot configuration)", true
			default:
				f.What = "TMP102 or ADS1115 (could not tell)"
			}
			break
		}
		f.Driver, f.What = "ina219", "INA219? (by address)"
	}
	if f.What == "" {
		f.What = "unknown device"
	}
	return f
}

// addrBus maps periph ds248x's accepted 0x18 to the bridge's real address.
type addrBus struct {
	i2c.Bus
	real uint16
}

func (b *addrBus) Tx(a uint16, w, r []byte) error {
	if a == 0x18 {
		a = b.real
	}
	return b.Bus.Tx(a, w, r)
}

func (b *addrBus) SetSpeed(f physic.Frequency) error { return b.Bus.SetSpeed(f) }

func searchBridge(bus i2c.Bus, a uint16) ([]string, bool) {
	d, err := ds248x.New(&addrBus{Bus: bus, real: a}, 0x18, &ds248x.DefaultOpts)
	if err != nil {
		return nil, false
	}
	addrs, err := d.Search(false)
	if err != nil {
		return nil, true
	}
	var roms []string
	for _, ad := range addrs {
		if fam := byte(ad); fam == 0x28 || fam == 0x22 {
			roms = append(roms, fmt.Sprintf("%02x-%012x", fam, uint64(ad)>>8&0xFFFFFFFFFFFF))
		}
	}
	return roms, true
}

// ConfigLines formats sensor lines for what was found on the bus with id busID.
func ConfigLines(busID string, found []Found) []string {
	var out []string
	for _, f := range found {
		loc := fmt.Sprintf("0x%02x", f.Addr)
		mux := ""
		if f.Mux != nil {
			loc += fmt.Sprintf(" via mux 0x%02x channel %d", f.Mux.Address, f.Mux.Channel)
			mux = fmt.Sprintf(", mux: {address: 0x%02x, channel: %d}", f.Mux.Address, f.Mux.Channel)
		}
		sure := ""
		if !f.Sure {
			sure = "  (unconfirmed: check the part)"
		}
		out = append(out, fmt.Sprintf("  # %s: %s%s", loc, f.What, sure))
		switch f.Driver {
		case "", "pca9548":
			continue
		case "ds18b20":
			for _, rom := range f.ROMs {
				out = append(out, fmt.Sprintf("  - {id: %s.%s, driver: ds18b20, bus: %s, address: 0x%02x%s, rom: %s}", busID, rom, busID, f.Addr, mux, rom))
			}
			continue
		case "ads1115":
			out = append(out, fmt.Sprintf("  - {id: %s, driver: ads1115, bus: %s, address: 0x%02x%s, inputs: [{channel: a0, input: a0}]}", sensorID(busID, f), busID, f.Addr, mux))
			continue
		}
		out = append(out, fmt.Sprintf("  - {id: %s, driver: %s, bus: %s, address: 0x%02x%s%s}", sensorID(busID, f), f.Driver, busID, f.Addr, mux, extra(f.Driver)))
	}
	return out
}

// sensorID makes a valid, unique placeholder id; the installer renames it after the place (r12.inlet).
func sensorID(busID string, f Found) string {
	id := fmt.Sprintf("%s.%s-%02x", busID, f.Driver, f.Addr)
	if f.Mux != nil {
		id += fmt.Sprintf("-mux%02x-%d", f.Mux.Address, f.Mux.Channel)
	}
	return id
}

func extra(drv string) string {
	switch drv {
	case "sgp30":
		return ", every: 1s"
	case "scd4x":
		return ", every: 5s"
	case "ina219":
		return ", shunt: 0.1"
	}
	return ""
}

// String is a one-line summary of a Found.
func (f Found) String() string {
	s := fmt.Sprintf("0x%02x", f.Addr)
	if f.Mux != nil {
		s += fmt.Sprintf(" (mux 0x%02x ch %d)", f.Mux.Address, f.Mux.Channel)
	}
	return s + " " + strings.TrimSpace(f.What)
}
