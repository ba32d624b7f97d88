package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus/i2cfake"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cscan"
)

func TestScanW1ListsKernelProbes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"28-0316a2795aff", "28-0416b3c41aff", "w1_bus_master1", "3a-000000123456"} {
		os.MkdirAll(filepath.Join(root, "bus", "w1", "devices", d), 0o755)
	}
	r, w, _ := os.Pipe()
	stdout := os.Stdout
	os.Stdout = w
	code := mainArgs([]string{"scan", "--bus", "w1", "--sysfs", root})
	w.Close()
	os.Stdout = stdout
	out, _ := io.ReadAll(r)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"{id: w1.28-0316a2795aff, driver: ds18b20, rom: 28-0316a2795aff}", "rom: 28-0416b3c41aff"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "w1_bus_master") || strings.Contains(string(out), "3a-") {
		t.Errorf("non-temperature devices listed:\n%s", out)
	}
	if code := mainArgs([]string{"scan", "--bus", "/dev/i2c-does-not-exist"}); code != 2 {
		t.Errorf("missing adapter: exit %d, want 2", code)
	}
}

// board is an I2C bus of register-addressed chips: a write sets a chip's pointer (register or command), a
// read returns the bytes stored under it (zeros if none); an address without a chip does not acknowledge.
type board struct {
	regs map[uint16]map[string][]byte
	ptr  map[uint16]string
}

func (b *board) Tx(a uint16, w, r []byte) error {
	regs, ok := b.regs[a]
	if !ok {
		return errors.New("nack")
	}
	if len(w) > 0 {
		b.ptr[a] = string(w)
	}
	clear(r)
	copy(r, regs[b.ptr[a]])
	return nil
}

func (b *board) SetSpeed(physic.Frequency) error { return nil }
func (b *board) String() string                  { return "board" }

// Every I2C chip driver compiled in is named, from its id, by the identifiers i2cChips hands the scanner
// (DS18B20s behind a DS248x bridge the scanner finds itself), and parts the ids do not confirm are
// reported as before.
func TestI2CChipsNameEveryI2CDriver(t *testing.T) {
	b := &board{ptr: map[uint16]string{}, regs: map[uint16]map[string][]byte{
		0x18: {"\x06": {0x00, 0x54}, "\x07": {0x04, 0x00}},
		0x38: {"\x71": {0x18}},
		0x40: {"\x00": {0x39, 0x9F}},
		0x41: {"\x00": {0x00, 0x00}},
		0x44: {"\x37\x81": i2cfake.SensirionWord(0x3000)},
		0x48: {"\x01": {0x60, 0xA0}},
		0x49: {"\x01": {0x85, 0x83}},
		0x4A: {"\x01": {0x00, 0x00}},
		0x58: {"\x20\x2f": i2cfake.SensirionWord(0x0022)},
		0x62: {"\xe4\xb8": i2cfake.SensirionWord(0x8000)},
		0x76: {"\xd0": {0x60}},
		0x77: {"\xd0": {0x58}},
	}}
	found := i2cscan.Scan(b, i2cChips())
	var named, guessed []string
	for _, f := range found {
		if f.Sure {
			named = append(named, f.Driver)
		} else {
			guessed = append(guessed, f.String())
		}
	}
	slices.Sort(named)
	var want []string
	r := registry()
	for _, name := range r.DriverNames() {
		if slices.Contains(r.Driver(name).Buses, i2cbus.TypeName) && name != "ds18b20" {
			want = append(want, name)
		}
	}
	if !slices.Equal(named, want) {
		t.Errorf("scan named %v, want every I2C chip driver %v", named, want)
	}
	wantGuesses := []string{"0x41 INA219? (by address)", "0x4a TMP102 or ADS1115 (could not tell)"}
	if !slices.Equal(guessed, wantGuesses) {
		t.Errorf("unconfirmed: %q, want %q", guessed, wantGuesses)
	}
}
