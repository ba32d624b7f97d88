package i2cscan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ds248x"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
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

// Scan probes bus and returns what it found, sorted by mux channel and address. ids are the chips it can
// name, asked in this order (see i2cbus.Identifier); multiplexers and DS248x 1-Wire bridges it finds
// itself.
func Scan(bus i2c.Bus, ids []i2cbus.Identifier) []Found {
	var out []Found
	root := present(bus, nil)
	for _, a := range root {
		out = append(out, identify(bus, a, ids))
	}
	for _, f := range out {
		if f.Driver != "pca9548" {
			continue
		}
		out = append(out, behindMux(bus, f.Addr, root, ids)...)
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
		if slices.Contains(skip, a) {
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

func behindMux(bus i2c.Bus, mux uint16, root []uint16, ids []i2cbus.Identifier) []Found {
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
			f := identify(bus, a, ids)
			f.Mux = &i2cbus.Mux{Address: mux, Channel: ch}
			out = append(out, f)
		}
	}
	return out
}

// muxName is what the scan says about a PCA9548A.
const muxName = "PCA9548A I2C multiplexer (channel register reads back)"

// isMux tests for a PCA9548A at 0x70-0x77. Its only register is the channel mask, which reads back what
// was written. At 0x76/0x77, where BME280s and BMP280s sit, the test is their chip id read itself: the
// mux takes the 0xD0 written as its channel mask and reads it back (its previous mask is then put back),
// a Bosch part answers its chip id.
func isMux(bus i2c.Bus, a uint16) bool {
	switch {
	case a == 0x76 || a == 0x77:
		prev, _ := read(bus, a, nil, 1)
		id, ok := read(bus, a, []byte{0xD0}, 1)
		if ok && id[0] == 0xD0 {
			bus.Tx(a, prev, nil)
			return true
		}
		return false
	case a >= 0x70 && a <= 0x75:
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
	return false
}

func read(bus i2c.Bus, a uint16, w []byte, n int) ([]byte, bool) {
	r := make([]byte, n)
	return r, bus.Tx(a, w, r) == nil
}

// bridgeName is the DS2482/DS2483 in "could not tell" messages.
const bridgeName = "DS2482/DS2483 1-Wire bridge"

// isBridgeAddr reports whether a DS2482-100/-800 or DS2483 can be strapped to a.
func isBridgeAddr(a uint16) bool { return a >= 0x18 && a <= 0x1F }

// guess is one identifier's unconfirmed answer.
type guess struct {
	chip string
	id   i2cbus.Identity
}

// identify names the device at a: a multiplexer first, then the chips' identifiers in order (the first
// sure answer wins), then, at a bridge address, a DS248x 1-Wire bridge search. Without a sure answer one
// guess is reported as it is and several as "A or B (could not tell)".
func identify(bus i2c.Bus, a uint16, ids []i2cbus.Identifier) Found {
	f := Found{Addr: a}
	if isMux(bus, a) {
		f.Driver, f.What, f.Sure = "pca9548", muxName, true
		return f
	}
	var guesses []guess
	for _, c := range ids {
		if !slices.Contains(c.Addrs, a) {
			continue
		}
		id, ok := c.Identify(bus, a)
		switch {
		case !ok:
		case id.Sure:
			f.Driver, f.What, f.Sure = id.Driver, id.What, true
			return f
		default:
			guesses = append(guesses, guess{c.Chip, id})
		}
	}
	if isBridgeAddr(a) {
		if roms, ok := searchBridge(bus, a); ok {
			f.Driver, f.What, f.Sure, f.ROMs = "ds18b20", fmt.Sprintf("DS248x 1-Wire bridge with %d DS18B20 probe(s)", len(roms)), true, roms
			return f
		}
		guesses = append(guesses, guess{bridgeName, i2cbus.Identity{What: bridgeName + "?"}})
	}
	switch len(guesses) {
	case 0:
	case 1:
		f.Driver, f.What = guesses[0].id.Driver, guesses[0].id.What
	default:
		chips := make([]string, len(guesses))
		for i, g := range guesses {
			chips[i] = g.chip
		}
		f.What = strings.Join(chips[:len(chips)-1], ", ") + " or " + chips[len(chips)-1] + " (could not tell)"
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
