package ds18b20

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/onewire"
)

// Samples of w1_slave as the kernel's w1_therm writes it.
var w1Samples = []struct {
	text string
	fam  byte
	want float64
	err  error
}{
	// 0x0172 = 370/16 = 23.125 °C (12-bit).
	{"72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n", 0x28, 23.125, nil},
	// Datasheet table 1: 0xFF5E = -10.125 °C.
	{"5e ff 4b 46 7f ff 02 10 " + crcHex("5e ff 4b 46 7f ff 02 10") + " : crc=xx YES\n5e ff 4b 46 7f ff 02 10 00 t=-10125\n", 0x28, -10.125, nil},
	// Power-on value.
	{"50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n", 0x28, 0, ErrNoConversion},
	// Data line stuck low: zeros with a "valid" CRC.
	{"00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n", 0x28, 0, ErrNoResponse},
	// Nothing answering.
	{"ff ff ff ff ff ff ff ff ff : crc=c9 NO\nff ff ff ff ff ff ff ff ff t=-62\n", 0x28, 0, ErrNoResponse},
	// A flipped bit.
	{"73 01 4b 46 7f ff 0e 10 57 : crc=57 NO\n73 01 4b 46 7f ff 0e 10 57 t=23187\n", 0x28, 0, ErrCRC},
	// DS18S20 (family 10): the kernel's value is trusted after its CRC verdict.
	{"2d 00 4b 46 ff ff 02 10 e1 : crc=e1 YES\n2d 00 4b 46 ff ff 02 10 e1 t=22625\n", 0x10, 22.625, nil},
}

func crcHex(s string) string {
	var b [8]byte
	n, _ := hexBytes(s, b[:])
	const hexdig = "0123456789abcdef"
	c := onewire.CalcCRC(b[:n])
	return string([]byte{hexdig[c>>4], hexdig[c&15]})
}

func TestParseW1Slave(t *testing.T) {
	for _, s := range w1Samples {
		got, err := ParseW1Slave([]byte(s.text), s.fam)
		if s.err != nil {
			if !errors.Is(err, s.err) {
				t.Errorf("%q: got %v, %v; want %v", s.text, got, err, s.err)
			}
			continue
		}
		if err != nil || got != s.want {
			t.Errorf("%q: got %v, %v; want %v", s.text, got, err, s.want)
		}
	}
	for _, bad := range []string{"", "garbage", "72 01 : crc=57 YES\nt=1\n", "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\nt=1\n"} {
		if _, err := ParseW1Slave([]byte(bad), 0x28); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckScratchpadResolutionMasksUndefinedBits(t *testing.T) {
	// 9-bit config (0x1F): the three low bits are undefined and must not leak into the value.
	sp := []byte{0x97, 0x01, 0x4b, 0x46, 0x1f, 0xff, 0x0e, 0x10, 0}
	sp[8] = onewire.CalcCRC(sp[:8])
	v, err := CheckScratchpad(sp)
	if err != nil || v != 25.0 {
		t.Errorf("got %v, %v; want 25.0 (0x0197 masked to 0x0190)", v, err)
	}
}

func TestParseROM(t *testing.T) {
	a, err := ParseROM("28-0316a2795aff")
	if err != nil {
		t.Fatal(err)
	}
	if byte(a) != 0x28 || byte(a>>8) != 0xff || byte(a>>48) != 0x03 {
		t.Errorf("address %016x", uint64(a))
	}
	var b [8]byte
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	if !onewire.CheckCRC(b[:]) {
		t.Errorf("address %016x has a bad CRC", uint64(a))
	}
	for _, bad := range []string{"28-0316a2795af", "zz-0316a2795aff", "280316a2795aff"} {
		if _, err := ParseROM(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseW1Slave(f *testing.F) {
	for _, s := range w1Samples {
		f.Add([]byte(s.text), s.fam)
	}
	f.Fuzz(func(t *testing.T, text []byte, fam byte) {
		v, err := ParseW1Slave(text, fam)
		if err == nil && (fam == 0x28 || fam == 0x22) && (v < -128 || v >= 128) {
			t.Errorf("%q: %v outside the scratchpad's range", text, v)
		}
	})
}
