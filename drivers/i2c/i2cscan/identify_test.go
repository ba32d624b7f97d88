package i2cscan

import (
	"testing"

	"periph.io/x/conn/v3/i2c"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// fixed is an Identifier that answers id (ok as given) and counts how often it was asked.
func fixed(chip string, addrs []uint16, id i2cbus.Identity, ok bool, asked *int) i2cbus.Identifier {
	return i2cbus.Identifier{Chip: chip, Addrs: addrs, Identify: func(i2c.Bus, uint16) (i2cbus.Identity, bool) {
		*asked++
		return id, ok
	}}
}

func TestIdentifyCombinesAnswers(t *testing.T) {
	at := []uint16{0x50}
	guessA := i2cbus.Identity{Driver: "a", What: "A? (by address)"}
	guessB := i2cbus.Identity{Driver: "b", What: "B? (by address)"}
	sureC := i2cbus.Identity{Driver: "c", What: "C (id 0x42)", Sure: true}
	for _, tc := range []struct {
		name  string
		ids   func(asked []int) []i2cbus.Identifier
		want  Found
		asked []int
	}{
		{"no identifier for the address", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{fixed("C", []uint16{0x51}, sureC, true, &n[0])}
		}, Found{Addr: 0x50, What: "unknown device"}, []int{0}},
		{"no opinion", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{fixed("C", at, i2cbus.Identity{}, false, &n[0])}
		}, Found{Addr: 0x50, What: "unknown device"}, []int{1}},
		{"first sure answer wins and ends the questions", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{
				fixed("A", at, guessA, true, &n[0]),
				fixed("C", at, sureC, true, &n[1]),
				fixed("D", at, i2cbus.Identity{Driver: "d", What: "D", Sure: true}, true, &n[2]),
			}
		}, Found{Addr: 0x50, Driver: "c", What: "C (id 0x42)", Sure: true}, []int{1, 1, 0}},
		{"one guess is reported by address", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{
				fixed("A", at, guessA, true, &n[0]),
				fixed("C", at, i2cbus.Identity{}, false, &n[1]),
			}
		}, Found{Addr: 0x50, Driver: "a", What: "A? (by address)"}, []int{1, 1}},
		{"two guesses cannot be told apart", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{fixed("A", at, guessA, true, &n[0]), fixed("B", at, guessB, true, &n[1])}
		}, Found{Addr: 0x50, What: "A or B (could not tell)"}, []int{1, 1}},
		{"three guesses", func(n []int) []i2cbus.Identifier {
			return []i2cbus.Identifier{
				fixed("A", at, guessA, true, &n[0]),
				fixed("B", at, guessB, true, &n[1]),
				fixed("E", at, i2cbus.Identity{What: "E?"}, true, &n[2]),
			}
		}, Found{Addr: 0x50, What: "A, B or E (could not tell)"}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := make([]int, len(tc.asked))
			b := &fakeBus{root: map[uint16]device{0x50: dev(nil)}}
			got := identify(b, 0x50, tc.ids(asked))
			if got.String() != tc.want.String() || got.Driver != tc.want.Driver || got.Sure != tc.want.Sure {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			for i := range asked {
				if asked[i] != tc.asked[i] {
					t.Errorf("identifier %d asked %d times, want %d", i, asked[i], tc.asked[i])
				}
			}
		})
	}
}

// A multiplexer at a Bosch address latches the chip id register's address as its mask; the Bosch
// identifier must not be asked then (it would read 0xD0 back and name an unknown Bosch chip).
func TestIdentifyMuxAtBoschAddressBeforeChips(t *testing.T) {
	var mask byte = 0x01
	b := &fakeBus{root: map[uint16]device{0x77: latch{&mask}}}
	asked := 0
	ids := []i2cbus.Identifier{fixed("BME280/BMP280", []uint16{0x76, 0x77}, i2cbus.Identity{What: "unknown chip id 0xd0 at a Bosch address"}, true, &asked)}
	got := identify(b, 0x77, ids)
	if got.Driver != "pca9548" || !got.Sure || asked != 0 {
		t.Errorf("got %+v, identifier asked %d times", got, asked)
	}
	if mask != 0x01 {
		t.Errorf("mux mask left at 0x%02x, want 0x01", mask)
	}
}

// At a DS248x address the bridge search comes after the chips' identifiers and joins their guesses.
func TestIdentifyBridgeAfterChips(t *testing.T) {
	at := []uint16{0x1A}
	b := &fakeBus{root: map[uint16]device{0x1A: dev(nil)}}
	n := 0
	got := identify(b, 0x1A, []i2cbus.Identifier{fixed("X", at, i2cbus.Identity{Driver: "x", What: "X?"}, true, &n)})
	if got.What != "X or DS2482/DS2483 1-Wire bridge (could not tell)" || got.Driver != "" || got.Sure {
		t.Errorf("got %+v", got)
	}
	b = &fakeBus{root: map[uint16]device{0x19: newBridge(0x28, 0x0316a2795aff)}}
	got = identify(b, 0x19, []i2cbus.Identifier{fixed("X", []uint16{0x19}, i2cbus.Identity{Driver: "x", What: "X?"}, true, &n)})
	if got.Driver != "ds18b20" || !got.Sure || len(got.ROMs) != 1 || got.ROMs[0] != "28-0316a2795aff" {
		t.Errorf("got %+v", got)
	}
}
