package modbus

import (
	"math"
	"testing"
)

// Register values computed by hand from the big-endian bytes of each value (domain reference §4:
// float32 123.456 = 0x42F6E979, int32 -2 = 0xFFFFFFFE, uint32 70000 = 0x00011170).
var decodeCases = []struct {
	name  string
	regs  []uint16
	typ   Type
	order WordOrder
	want  float64
}{
	{"float32 abcd", []uint16{0x42F6, 0xE979}, Float32, ABCD, 123.456},
	{"float32 cdab", []uint16{0xE979, 0x42F6}, Float32, CDAB, 123.456},
	{"float32 badc", []uint16{0xF642, 0x79E9}, Float32, BADC, 123.456},
	{"float32 dcba", []uint16{0x79E9, 0xF642}, Float32, DCBA, 123.456},
	{"int32 -2 abcd", []uint16{0xFFFF, 0xFFFE}, Int32, ABCD, -2},
	{"int32 -2 cdab", []uint16{0xFFFE, 0xFFFF}, Int32, CDAB, -2},
	{"int32 -2 badc", []uint16{0xFFFF, 0xFEFF}, Int32, BADC, -2},
	{"int32 -2 dcba", []uint16{0xFEFF, 0xFFFF}, Int32, DCBA, -2},
	{"uint32 70000 abcd", []uint16{0x0001, 0x1170}, Uint32, ABCD, 70000},
	{"uint32 70000 cdab", []uint16{0x1170, 0x0001}, Uint32, CDAB, 70000},
	{"uint32 70000 badc", []uint16{0x0100, 0x7011}, Uint32, BADC, 70000},
	{"uint32 70000 dcba", []uint16{0x7011, 0x0100}, Uint32, DCBA, 70000},
	{"uint16 abcd", []uint16{0x1234}, Uint16, ABCD, 0x1234},
	{"uint16 cdab (no words to swap)", []uint16{0x1234}, Uint16, CDAB, 0x1234},
	{"uint16 badc", []uint16{0x3412}, Uint16, BADC, 0x1234},
	{"uint16 dcba", []uint16{0x3412}, Uint16, DCBA, 0x1234},
	{"int16 -1", []uint16{0xFFFF}, Int16, ABCD, -1},
	{"int16 -300 (0xFED4)", []uint16{0xFED4}, Int16, ABCD, -300},
	{"int16 -300 badc", []uint16{0xD4FE}, Int16, BADC, -300},
	// 0x0001020304050607 = 283686952306183 (below 2^53, so exact in a float64)
	{"uint64 abcd", []uint16{0x0001, 0x0203, 0x0405, 0x0607}, Uint64, ABCD, 283686952306183},
	{"uint64 cdab", []uint16{0x0607, 0x0405, 0x0203, 0x0001}, Uint64, CDAB, 283686952306183},
	{"uint64 badc", []uint16{0x0100, 0x0302, 0x0504, 0x0706}, Uint64, BADC, 283686952306183},
	{"uint64 dcba", []uint16{0x0706, 0x0504, 0x0302, 0x0100}, Uint64, DCBA, 283686952306183},
	{"int64 -2 abcd", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}, Int64, ABCD, -2},
	{"int64 -2 cdab", []uint16{0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}, Int64, CDAB, -2},
	{"int64 -2 badc", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF}, Int64, BADC, -2},
	{"int64 -2 dcba", []uint16{0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF}, Int64, DCBA, -2},
	// 1e12 = 0x000000E8D4A51000
	{"int64 1e12 abcd", []uint16{0x0000, 0x00E8, 0xD4A5, 0x1000}, Int64, ABCD, 1e12},
}

func TestDecodeEveryTypeAndOrder(t *testing.T) {
	for _, c := range decodeCases {
		got, err := Decode(c.regs, c.typ, c.order)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.typ == Float32 {
			if math.Abs(got-c.want) > 1e-4 {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		} else if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		// Encode must give back the very registers.
		back := make([]uint16, c.typ.Words())
		Encode(back, c.want, c.typ, c.order)
		for i := range back {
			if back[i] != c.regs[i] {
				t.Errorf("%s: Encode gave %04x, want %04x", c.name, back, c.regs)
				break
			}
		}
	}
}

func TestDecodeShortInput(t *testing.T) {
	if _, err := Decode([]uint16{1}, Float32, ABCD); err == nil {
		t.Fatal("float32 from one register: want an error")
	}
}

func TestEncodeClampsToTheType(t *testing.T) {
	for _, c := range []struct {
		v    float64
		typ  Type
		want float64
	}{{70000, Uint16, 65535}, {-5, Uint16, 0}, {40000, Int16, 32767}, {-40000, Int16, -32768}, {1e30, Int64, math.MaxInt64}, {12.6, Uint16, 13}} {
		regs := make([]uint16, c.typ.Words())
		Encode(regs, c.v, c.typ, ABCD)
		if got, _ := Decode(regs, c.typ, ABCD); got != c.want {
			t.Errorf("Encode(%v, %s) reads back %v, want %v", c.v, c.typ, got, c.want)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, s := range []string{"coil", "discrete", "holding", "input"} {
		if tb, err := ParseTable(s); err != nil || tb.String() != s {
			t.Errorf("ParseTable(%q) = %v, %v", s, tb, err)
		}
	}
	if _, err := ParseTable("holdings"); err == nil {
		t.Error("ParseTable(holdings): want an error")
	}
	if o, err := ParseWordOrder("CDAB"); err != nil || o != CDAB {
		t.Errorf("ParseWordOrder(CDAB) = %v, %v", o, err)
	}
	if _, err := ParseType("float64"); err == nil {
		t.Error("ParseType(float64): want an error (not supported)")
	}
}

// FuzzDecode feeds arbitrary registers to every type and order: decoding must not panic, and for
// integer types re-encoding the decoded value must give back the same registers.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		b := make([]byte, 0, 8)
		for _, r := range c.regs {
			b = append(b, byte(r>>8), byte(r))
		}
		f.Add(b, uint8(c.typ), uint8(c.order))
	}
	f.Fuzz(func(t *testing.T, data []byte, typ, order uint8) {
		ty := Type(typ%7 + 1)
		o := WordOrder(order % 4)
		regs := make([]uint16, len(data)/2)
		for i := range regs {
			regs[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		}
		v, err := Decode(regs, ty, o)
		if len(regs) < ty.Words() {
			if err == nil {
				t.Fatalf("%d registers decoded as %s without error", len(regs), ty)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if ty == Float32 || ty == Uint64 || ty == Int64 {
			return // floats have NaN payloads; 64-bit integers lose bits in float64
		}
		back := make([]uint16, ty.Words())
		Encode(back, v, ty, o)
		for i := range back {
			if back[i] != regs[i] {
				t.Fatalf("%s %s: %04x decoded to %v, encoded back to %04x", ty, o, regs[:ty.Words()], v, back)
			}
		}
	})
}

// Turning registers into values allocates nothing: it runs for every register of every poll.
func TestDecodingAllocatesNothing(t *testing.T) {
	specs := []RegSpec{
		{Channel: "f", Table: "input", Address: intp(0), Type: "float32", WordOrder: "cdab", Scale: f64p(2)},
		{Channel: "cells", Table: "input", Address: intp(0), Count: 4, Reduce: "spread", Scale: f64p(0.001)},
		{Channel: "b", Table: "input", Address: intp(0), Bit: intp(3)},
		{Channel: "s", Table: "input", Address: intp(0), States: map[string]string{"0x42f6": "x"}},
	}
	regs := []uint16{0x42F6, 0xE979, 0x1234, 0x5678}
	for i := range specs {
		p, ok := compile(&specs[i], func(line int, format string, args ...any) { t.Fatalf(format, args...) })
		if !ok {
			t.Fatal("compile")
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = p.regValue(regs) }); n != 0 {
			t.Errorf("%s: %v allocations per value", p.ch, n)
		}
	}
}
