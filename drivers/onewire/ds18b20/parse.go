package ds18b20

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/onewire"

	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Errors a caller may act on.
var (
	// ErrCRC is a scratchpad whose CRC did not match: noise, a long unterminated cable, a weak pull-up.
	ErrCRC = fmt.Errorf("scratchpad %w", i2cbus.ErrCRC)
	// ErrNoConversion is the +85 °C power-on value: the probe has not completed a conversion.
	ErrNoConversion = fmt.Errorf("%w: power-on value +85 °C: no conversion was done (insufficient power or pull-up?)", i2cbus.ErrInvalid)
	// ErrNoResponse is an all-0x00 or all-0xFF scratchpad: nothing drove the data line.
	ErrNoResponse = errors.New("probe did not respond (scratchpad all zeros or all ones: disconnected or shorted data line)")
)

// CheckScratchpad validates the 9-byte scratchpad of a DS18B20/DS1822 and returns the temperature in °C.
func CheckScratchpad(sp []byte) (float64, error) {
	if len(sp) != 9 {
		return 0, fmt.Errorf("scratchpad is %d bytes, want 9", len(sp))
	}
	allSame := true
	for _, b := range sp[1:] {
		if b != sp[0] {
			allSame = false
		}
	}
	if allSame && (sp[0] == 0x00 || sp[0] == 0xFF) {
		return 0, ErrNoResponse
	}
	if !onewire.CheckCRC(sp) {
		return 0, ErrCRC
	}
	raw := int16(uint16(sp[1])<<8 | uint16(sp[0]))
	if raw == 0x0550 {
		return 0, ErrNoConversion
	}
	// Bits below the configured resolution are undefined (datasheet, "Temperature register format").
	res := 9 + int(sp[4]>>5&3)
	raw &^= int16(1<<(12-res)) - 1
	return float64(raw) / 16, nil
}

// ParseW1Slave parses the kernel w1_therm driver's w1_slave text:
//
//	72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//	72 01 4b 46 7f ff 0e 10 57 t=23125
//
// and returns the temperature in °C. family is the ROM family code (0x28 DS18B20, 0x22 DS1822, 0x10
// DS18S20): the scratchpad checks apply to the first two, whose format this package knows; for others the
// kernel's t= value is used after its CRC verdict.
func ParseW1Slave(text []byte, family byte) (float64, error) {
	s := string(text)
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return 0, fmt.Errorf("w1_slave: no line break in %q", truncate(s))
	}
	l1, l2 := s[:nl], strings.TrimRight(s[nl+1:], "\n")
	c := strings.Index(l1, ": crc=")
	if c < 0 {
		return 0, fmt.Errorf("w1_slave: first line %q has no crc", truncate(l1))
	}
	var sp [9]byte
	n, err := hexBytes(l1[:c], sp[:])
	if err != nil || n != 9 {
		return 0, fmt.Errorf("w1_slave: first line %q: want 9 hex bytes", truncate(l1))
	}
	verdict := strings.Fields(l1[c+len(": crc="):])
	if len(verdict) != 2 || (verdict[1] != "YES" && verdict[1] != "NO") {
		return 0, fmt.Errorf("w1_slave: first line %q: no YES/NO verdict", truncate(l1))
	}
	if family == 0x28 || family == 0x22 {
		v, err := CheckScratchpad(sp[:])
		if err != nil {
			return 0, err
		}
		if verdict[1] != "YES" {
			return 0, ErrCRC
		}
		return v, nil
	}
	if allEqual(sp[:], 0) || allEqual(sp[:], 0xFF) {
		return 0, ErrNoResponse
	}
	if verdict[1] != "YES" {
		return 0, ErrCRC
	}
	t := strings.LastIndex(l2, "t=")
	if t < 0 {
		return 0, fmt.Errorf("w1_slave: second line %q has no t=", truncate(l2))
	}
	milli, err := strconv.ParseInt(strings.TrimSpace(l2[t+2:]), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("w1_slave: t=%q is not a number", truncate(l2[t+2:]))
	}
	if milli == 85000 {
		return 0, ErrNoConversion
	}
	return float64(milli) / 1000, nil
}

func hexBytes(s string, dst []byte) (int, error) {
	n := 0
	for _, f := range strings.Fields(s) {
		if n == len(dst) {
			return n + 1, nil
		}
		v, err := strconv.ParseUint(f, 16, 8)
		if err != nil || len(f) != 2 {
			return n, fmt.Errorf("bad byte %q", f)
		}
		dst[n] = byte(v)
		n++
	}
	return n, nil
}

func allEqual(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ParseROM parses a kernel slave name ("28-0316a2795aff": family, then the 48-bit serial as hex) into
// the 64-bit 1-Wire address (family in the low byte, serial, then the CRC in the high byte).
func ParseROM(name string) (onewire.Address, error) {
	fam, ser, ok := strings.Cut(strings.ToLower(name), "-")
	if !ok || len(fam) != 2 || len(ser) != 12 {
		return 0, fmt.Errorf("%q is not a 1-Wire id like 28-0316a2795aff", name)
	}
	f, err1 := strconv.ParseUint(fam, 16, 8)
	s, err2 := strconv.ParseUint(ser, 16, 48)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a 1-Wire id like 28-0316a2795aff", name)
	}
	var b [8]byte
	b[0] = byte(f)
	for i := 0; i < 6; i++ {
		b[1+i] = byte(s >> (8 * i))
	}
	b[7] = onewire.CalcCRC(b[:7])
	var a onewire.Address
	for i := 7; i >= 0; i-- {
		a = a<<8 | onewire.Address(b[i])
	}
	return a, nil
}
